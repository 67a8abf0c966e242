"""Fuzzing every operation of the gateway's own OpenAPI document, as users of every role.

schemathesis generates requests from the document (valid ones, and with BENCH_FUZZ_MODES
including `negative` also requests that break it) and each answer is checked for
  not_a_server_error            no 5xx
  status_code_conformance       the status is one the operation documents
  content_type_conformance      the Content-Type is one documented for that status
  response_schema_conformance   the body validates against the documented schema
Every check runs on every answer; failures are grouped by operation and check with one
example each.

Setup (not timed): a region, one user per role in ROLES (a repair partner bound to a
partner by the admin), each logged in, and a few records (partner, store, customer,
consumer with a device, ticket) so generated ids reach real rows, not only 404s.
Operations that would end the fuzzing session are handled, not skipped: `logout` runs
with a session of its own logged in for each case, and `update_user` /
`reassign_user_records` never target the fuzzing users themselves (or the bootstrap
admin), so a generated `active: false` or role change cannot lock the run out.

Baseline, same run, same client: the mean time of a plain valid authenticated
`GET /api/v1/me`, against the mean time of a generated request.

Knobs: BENCH_FUZZ_EXAMPLES (default 10) examples per operation, role and mode;
BENCH_FUZZ_MODES (default `positive,negative`); BENCH_FUZZ_ROLES (default every role);
BENCH_FUZZ_SEED (default 1); BENCH_FUZZ_BASELINE (default 200 requests).

Run: .venv/bin/python bench/fuzz.py   (starts its own stack on databases crmfuzz_* and the
RabbitMQ vhost crmfuzz, which it creates with rabbitmqctl if missing; exits 1 on any
failure). The in-suite test tests/e2e/test_fuzz_e2e.py uses `create_users` and `fuzz`
with a small budget.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
from load import SetupFailed, expect, login  # noqa: E402
from local_stack import Stack, free_port  # noqa: E402

ROLES = ("admin", "vp", "region_manager", "channel_owner", "field_sales", "service_agent",
         "analyst", "repair_partner")
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance)
PASSWORD = "fuzz-user-password-1"
# Operations whose path names a user: never aimed at the fuzzing users (a generated
# deactivation or role change would lock the run out).
USER_TARGETED = {"update_user", "reassign_user_records"}
# Logging out ends the caller's session: each case gets a session of its own.
OWN_SESSION = {"logout"}
VHOST = "crmfuzz"
DB_PREFIX = "crmfuzz"


@dataclass
class Users:
    """The fuzzing users: role -> login headers, username and id."""
    headers: dict[str, dict] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)
    ids: set[int] = field(default_factory=set)


def create_users(api: httpx.Client, admin: dict, roles, run_id: str) -> Users:
    """One user per role (the bootstrap admin for `admin`) in a region of their own, each
    logged in; a repair partner is bound to a partner the admin creates."""
    users = Users()
    me = expect(api.get("/me", headers=admin), 200, "admin /me")
    users.headers["admin"], users.usernames["admin"] = admin, me["username"]
    users.ids.add(me["id"])
    region = expect(api.post("/org-units", headers=admin, json={
        "name": f"模糊测试大区{run_id}", "kind": "region", "parent_id": me["org_unit_id"]}),
        201, "org unit")
    # (role, org unit, manager role): each reports to the one above it.
    plan = {"vp": (me["org_unit_id"], "admin"), "region_manager": (region["id"], "vp"),
            "channel_owner": (region["id"], "region_manager"),
            "field_sales": (region["id"], "channel_owner"),
            "service_agent": (me["org_unit_id"], "admin"),
            "analyst": (me["org_unit_id"], "admin"),
            "repair_partner": (me["org_unit_id"], "admin")}
    manager_ids = {"admin": me["id"]}
    for role in [r for r in plan if r in roles or r == "vp"]:
        unit, manager = plan[role]
        extra = {}
        if role == "repair_partner":
            partner = expect(api.post("/partners", headers=admin, json={
                "code": f"FZRP{run_id}", "name": f"模糊维修商{run_id}",
                "kind": "provincial_distributor"}), 201, "partner")
            extra["partner_id"] = partner["id"]
        username = f"fz{run_id}-{role.replace('_', '-')}"
        user = expect(api.post("/users", headers=admin, json={
            "username": username, "password": PASSWORD, "display_name": username,
            "roles": [role], "org_unit_id": unit,
            "manager_id": manager_ids.get(manager, me["id"]), **extra}), 201, f"user {role}")
        manager_ids[role] = user["id"]
        users.ids.add(user["id"])
        if role in roles:
            users.headers[role] = login(api, username, PASSWORD)
            users.usernames[role] = username
    return users


def seed_records(api: httpx.Client, users: Users, run_id: str) -> None:
    """A few real rows for generated ids to find: a partner with a store, a customer, a
    consumer with a registered device and a ticket for it."""
    admin = users.headers["admin"]
    partner = expect(api.post("/partners", headers=admin, json={
        "code": f"FZ{run_id}", "name": f"模糊渠道{run_id}", "kind": "chain"}), 201, "partner")
    expect(api.post("/stores", headers=admin, json={
        "code": f"FZS{run_id}", "name": f"模糊门店{run_id}", "partner_id": partner["id"],
        "lat": 30.27, "lon": 120.15}), 201, "store")
    expect(api.post("/customers", headers=admin, params={"allow_duplicate": "true"}, json={
        "name": f"模糊客户{run_id}"}), 201, "customer")
    consumer = expect(api.post("/consumers", headers=admin, json={
        "name": f"模糊{run_id}", "phone": "13800138000"}), 201, "consumer")
    product = expect(api.post(f"/consumers/{consumer['id']}/products", headers=admin, json={
        "model": "X100", "serial": f"FZ{run_id}".upper(), "sold_at": "2026-06-01"}),
        201, "product")
    expect(api.post("/tickets", headers=admin, json={
        "consumer_id": consumer["id"], "product_id": product["id"], "channel": "call_center",
        "fault_description": "屏幕不亮", "auto_dispatch": False}), 201, "ticket")


@dataclass
class Report:
    cases: Counter = field(default_factory=Counter)       # role -> cases sent
    statuses: Counter = field(default_factory=Counter)    # status code -> count
    server_errors: int = 0
    # (operation, check) -> (count, role, one example)
    failures: dict = field(default_factory=dict)
    seconds_in_requests: float = 0.0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def record(self, operation: str, check: str, role: str, example: str) -> None:
        count, first_role, first = self.failures.get((operation, check), (0, role, example))
        self.failures[(operation, check)] = (count + 1, first_role, first)


def _example(case, reply, failure) -> str:
    return (f"{case.method} {case.formatted_path} query={case.query!r} "
            f"body={str(case.body)[:300]!r} -> {reply.status_code} "
            f"{reply.text[:300]!r}: {failure.title}: {str(failure.message)[:500]}")


def _operation_cases(schema_op, mode: GenerationMode, protected: set[int]):
    strategy = schema_op.as_strategy(generation_mode=mode)
    if schema_op.definition.raw.get("operationId") in USER_TARGETED:
        strategy = strategy.filter(
            lambda case: (case.path_parameters or {}).get("user_id") not in protected)
    return strategy


def _runner(base_url, session, strategy, examples, run_seed, role, headers, operation_id,
            report, fresh_login):
    @given(case=strategy)
    @seed(run_seed)
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    def run(case):
        sent = fresh_login(role) if operation_id in OWN_SESSION else headers
        began = time.perf_counter()
        reply = case.call(base_url=base_url, session=session, headers=sent, timeout=30)
        report.seconds_in_requests += time.perf_counter() - began
        report.cases[role] += 1
        report.statuses[reply.status_code] += 1
        report.server_errors += reply.status_code >= 500
        for check in CHECKS:
            try:
                case.validate_response(reply, checks=[check], headers=sent)
            except FailureGroup as group:
                for failure in group.exceptions:
                    report.record(operation_id, check.__name__, role,
                                  _example(case, reply, failure))
    return run


def fuzz(base_url: str, spec: dict, users: Users, budget: dict[str, int],
         run_seed: int = 1, report: Report | None = None, fresh_login=None) -> Report:
    """Every operation of `spec` as every user in `users`, `budget[mode]` cases per
    operation and role for each generation mode (positive, negative); every answer through
    CHECKS. `fresh_login(role)` -> headers of a new session of that role, for operations in
    OWN_SESSION."""
    report = report or Report()
    schema = schemathesis.openapi.from_dict(spec)
    session = requests.Session()
    started = time.perf_counter()
    for role, headers in users.headers.items():
        for result in schema.get_all_operations():
            operation = result.ok()
            operation_id = operation.definition.raw.get("operationId")
            for mode, examples in budget.items():
                strategy = _operation_cases(operation, GenerationMode(mode), users.ids)
                _runner(base_url, session, strategy, examples, run_seed, role, headers,
                        operation_id, report, fresh_login)()
    report.seconds += time.perf_counter() - started
    return report


def baseline(base_url: str, headers: dict, count: int) -> float:
    """Mean seconds of a plain valid `GET /api/v1/me` through the client fuzz() uses."""
    session = requests.Session()
    session.get(f"{base_url}/api/v1/me", headers=headers, timeout=30)  # connect first
    began = time.perf_counter()
    for _ in range(count):
        reply = session.get(f"{base_url}/api/v1/me", headers=headers, timeout=30)
        if reply.status_code != 200:
            raise SetupFailed(f"baseline /me: HTTP {reply.status_code}")
    return (time.perf_counter() - began) / count


def print_report(report: Report, baseline_s: float | None = None) -> None:
    print(f"cases: {report.total} in {report.seconds:.1f} s "
          f"({report.total / max(report.seconds, 1e-9):.1f} cases/s overall, checks included)")
    for role, count in report.cases.items():
        print(f"  {role:<15} {count}")
    print("statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(report.statuses.items())))
    mean = report.seconds_in_requests / max(report.total, 1)
    print(f"requests: {report.total / max(report.seconds_in_requests, 1e-9):.1f} req/s "
          f"back to back, mean {mean * 1000:.2f} ms")
    if baseline_s is not None:
        print(f"baseline GET /me: mean {baseline_s * 1000:.2f} ms "
              f"({1 / baseline_s:.1f} req/s); ratio generated/baseline: "
              f"{mean / baseline_s:.2f}")
    print(f"5xx: {report.server_errors}")
    print(describe_failures(report))


def describe_failures(report: Report) -> str:
    lines = [f"conformance failures: {sum(n for n, _, _ in report.failures.values())} "
             f"({len(report.failures)} operation/check pairs)"]
    for (operation, check), (count, role, example) in sorted(report.failures.items()):
        lines.append(f"  {operation} / {check}: {count}x, e.g. as {role}: {example}")
    return "\n".join(lines)


def ensure_vhost() -> None:
    """The fuzzing stack's own RabbitMQ vhost (other benches use the default one)."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return
    listed = subprocess.run([ctl, "-q", "list_vhosts"], capture_output=True, text=True)
    if VHOST not in listed.stdout.split():
        subprocess.run([ctl, "-q", "add_vhost", VHOST], check=True)
        subprocess.run([ctl, "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"],
                       check=True)


def bench_env() -> dict:
    return dict(os.environ, CRM_DB_PREFIX=DB_PREFIX, CRM_ACCESS_LOG="false",
                CRM_LOG_LEVEL="WARNING",
                CRM_AMQP_URI=f"amqp://guest:guest@127.0.0.1:5672/{VHOST}",
                # The run outlasts the default 15 minutes of an access token.
                CRM_ACCESS_TOKEN_TTL="14400")


def main() -> int:
    examples = int(os.environ.get("BENCH_FUZZ_EXAMPLES", "10"))
    modes = tuple(m for m in os.environ.get("BENCH_FUZZ_MODES", "positive,negative")
                  .split(",") if m)
    roles = tuple(r for r in os.environ.get("BENCH_FUZZ_ROLES", ",".join(ROLES)).split(",")
                  if r)
    run_seed = int(os.environ.get("BENCH_FUZZ_SEED", "1"))
    baseline_count = int(os.environ.get("BENCH_FUZZ_BASELINE", "200"))
    ensure_vhost()
    stack = Stack(env=bench_env(), log_dir=ROOT / ".run" / "fuzz-logs",
                  gateway_port=free_port())
    failed = True

    def on_signal(signum, frame):
        stack.stop()
        os._exit(130)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        began = time.perf_counter()
        stack.start()
        print(f"stack up in {time.perf_counter() - began:.1f} s; examples {examples} per "
              f"operation, role and mode; modes {','.join(modes)}; seed {run_seed}")
        with httpx.Client(base_url=f"{stack.url}/api/v1", timeout=60) as api:
            admin = login(api, "admin", stack.env["CRM_BOOTSTRAP_ADMIN_PASSWORD"])
            run_id = uuid.uuid4().hex[:6]
            users = create_users(api, admin, roles, run_id)
            seed_records(api, users, run_id)
            spec = api.get("/openapi.json").json()

            def fresh_login(role: str) -> dict:
                password = PASSWORD if role != "admin" \
                    else stack.env["CRM_BOOTSTRAP_ADMIN_PASSWORD"]
                return login(api, users.usernames[role], password)

            before = baseline(stack.url, users.headers["admin"], baseline_count)
            report = fuzz(stack.url, spec, users, dict.fromkeys(modes, examples), run_seed,
                          fresh_login=fresh_login)
            after = baseline(stack.url, users.headers["admin"], baseline_count)
        operations = len([1 for methods in spec["paths"].values() for _ in methods])
        print(f"operations: {operations}; roles: {', '.join(users.headers)}")
        print(f"baseline before/after the run: {before * 1000:.2f} / {after * 1000:.2f} ms")
        print_report(report, (before + after) / 2)
        failed = report.server_errors > 0 or bool(report.failures)
        print(f"Checks: zero 5xx: {'yes' if not report.server_errors else 'NO'}; zero "
              f"conformance failures: {'yes' if not report.failures else 'NO'}")
    finally:
        stack.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
