"""A mixed workload through the gateway for a fixed time, as the field, the channel desk and
the call centre use the system at once.

BENCH_CONNECTIONS (default 32) threads, one httpx.Client (one keep-alive connection) each,
send requests back to back for BENCH_SECONDS (default 60) after BENCH_WARMUP seconds
(default 5, not counted). Each thread picks its next operation at random (seeded) with
these weights:

  20  read_me          GET  /me                              (any user; accounts)
  15  read_store       GET  /stores/{id}                     (field sales; channels)
  15  read_ticket      GET  /tickets/{id}                    (service agent; service_tickets)
  15  check-in         POST /visits (plan), then POST /visits/{id}/check-in (field sales;
                       visits): two requests, counted as kinds plan_visit and check_in
  20  inspection_line  POST /inspections/{id}/lines          (channel owner, a draft form
                       per thread; channels)
  15  ticket_intake    POST /tickets                         (service agent; dispatched by a
                       region's rule to one of its two centres; service_tickets)

Every write emits events (reporting, notifications and visits consume them), so the
asynchronous side works alongside. Prints the total and per-kind throughput, p50/p99 per
kind, errors by kind and status (the first bodies of any 5xx), the CPU seconds each
process group spent during the timed window (stack processes, PostgreSQL backends by
database, RabbitMQ, the load generator; from /proc/<pid>/stat), and RabbitMQ queue depths
at the end and after a drain of up to BENCH_DRAIN_SECONDS (default 30; every queue must
return to 0, or to what it held before the run: messages already parked in a dead-letter
queue are shown, not counted), plus outbox rows not yet published. Warns when processes
outside the stack used the CPU meanwhile (another workload disturbed the figures).

Setup (not timed): a region with a manager, a channel owner, one salesperson per thread
(logged in), a partner with one store per thread and one draft inspection form per thread
(a different month each), four after-sales regions with two service centres and a rule
each, one consumer with a registered device and an opened ticket per thread, and a first
visit planned per thread (which also waits for the stores to reach visits by events).

`run_load(stack, seconds, connections) -> dict` is the core (bench/replicas.py uses it).

Run: .venv/bin/python bench/load.py   (starts its own stack on databases crmbench_*;
CRM_REPLICAS sets the processes per service, CRM_GATEWAY_WORKERS the gateway's; with 2 or
more replicas lower CRM_DB_POOL_SIZE / CRM_DB_MAX_OVERFLOW, as bench/replicas.py does, or
the processes outgrow PostgreSQL's max_connections = 100)
"""
import math
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
from cpu import CpuSampler  # noqa: E402
from local_stack import SERVICES, Stack, free_port  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "5"))
DRAIN_SECONDS = float(os.environ.get("BENCH_DRAIN_SECONDS", "30"))
PASSWORD = "bench-load-password"
SETUP_THREADS = 4  # creating a user costs an argon2 hash
PLAN_RETRY_SECONDS = 30
TICKET_REGIONS = 4
BASE = (30.2741, 120.1551)  # Hangzhou
OPERATIONS = (("read_me", 20), ("read_store", 15), ("read_ticket", 15), ("check_in", 15),
              ("inspection_line", 20), ("ticket_intake", 15))
KINDS = ("read_me", "read_store", "read_ticket", "plan_visit", "check_in", "inspection_line",
         "ticket_intake")
MAX_BODIES = 5
OTHER_WARN_CORES = 0.15  # CPU of processes outside the stack that makes a run suspect


def percentile(values: list[float], p: float) -> float:
    """Nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def luhn_imei(rnd: random.Random) -> str:
    digits = [rnd.randint(0, 9) for _ in range(14)]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
                for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


class SetupFailed(RuntimeError):
    pass


def expect(reply: httpx.Response, status: int, what: str) -> dict:
    if reply.status_code != status:
        raise SetupFailed(f"{what}: HTTP {reply.status_code} {reply.text[:300]}")
    return reply.json() if reply.content else {}


def login(api: httpx.Client, username: str, password: str) -> dict:
    token = expect(api.post("/auth/token", json={"username": username, "password": password}),
                   200, "login")["access_token"]
    return {"Authorization": f"Bearer {token}"}


# --- setup (not timed) ---------------------------------------------------------------------

def setup(stack: Stack, connections: int, run_id: str) -> dict:
    """Everything the timed phase needs: one `lane` dict per connection."""
    base_url = f"{stack.url}/api/v1"
    local = threading.local()
    made: list[httpx.Client] = []

    def api() -> httpx.Client:
        if getattr(local, "client", None) is None:
            local.client = httpx.Client(base_url=base_url, timeout=60)
            made.append(local.client)
        return local.client

    def user(username: str, role: str, unit: int, manager_id: int, **extra) -> dict:
        return expect(api().post("/users", headers=admin, json={
            "username": username, "password": PASSWORD, "display_name": username,
            "roles": [role], "org_unit_id": unit, "manager_id": manager_id, **extra}),
            201, f"create {role}")

    try:
        admin = login(api(), "admin", stack.env["CRM_BOOTSTRAP_ADMIN_PASSWORD"])
        region = expect(api().post("/org-units", headers=admin, json={
            "name": f"负载大区{run_id}", "kind": "region", "parent_id": 1}), 201, "org unit")
        manager = user(f"ld{run_id}-manager", "region_manager", region["id"], 1)
        owner = user(f"ld{run_id}-owner", "channel_owner", region["id"], manager["id"])
        agent = user(f"ld{run_id}-agent", "service_agent", 1, 1)
        manager_auth = login(api(), manager["username"], PASSWORD)
        owner_auth = login(api(), owner["username"], PASSWORD)
        agent_auth = login(api(), agent["username"], PASSWORD)
        partner = expect(api().post("/partners", headers=owner_auth, json={
            "code": f"LD{run_id}", "name": f"杭州连锁{run_id}", "kind": "chain"}),
            201, "partner")
        centres_by_region = []
        for k in range(TICKET_REGIONS):
            name = f"LR{run_id}-{k}"
            centres = []
            for j in range(2):
                provider = expect(api().post("/partners", headers=admin, json={
                    "code": f"LS{run_id}{k}{j}", "name": f"授权维修{k}-{j}",
                    "kind": "service_provider"}), 201, "service partner")
                centres.append(expect(api().post("/service-centers", headers=admin, json={
                    "partner_id": provider["id"], "name": f"维修中心{k}-{j}", "region": name,
                    "capacity": 100_000}), 201, "service centre")["id"])
            expect(api().post("/dispatch-rules", headers=admin, json={
                "priority": 1, "region": name, "service_center_ids": centres}), 201, "rule")
            centres_by_region.append(name)

        def make_lane(i: int) -> dict:
            rnd = random.Random(f"{run_id}-setup-{i}")
            sales = user(f"ld{run_id}-s{i:03d}", "field_sales", region["id"], manager["id"])
            lat, lon = BASE[0] + rnd.uniform(-0.2, 0.2), BASE[1] + rnd.uniform(-0.2, 0.2)
            store = expect(api().post("/stores", headers=owner_auth, json={
                "code": f"LD{run_id}-{i:03d}", "name": f"体验店{i + 1}号",
                "partner_id": partner["id"], "address": f"杭州市西湖区文三路{i + 1}号",
                "lat": round(lat, 6), "lon": round(lon, 6)}), 201, "store")
            month = f"{2020 + i // 12}-{i % 12 + 1:02d}"
            form = expect(api().post("/inspections", headers=manager_auth, json={
                "partner_id": partner["id"], "month": month, "store_ids": [store["id"]],
                "dynamics": "负载测试"}), 201, "inspection form")
            consumer = expect(api().post("/consumers", headers=agent_auth, json={
                "name": f"顾客{i}", "phone": f"13{rnd.randint(0, 10**9 - 1):09d}",
                "region": centres_by_region[i % TICKET_REGIONS]}), 201, "consumer")
            product = expect(api().post(f"/consumers/{consumer['id']}/products",
                                        headers=agent_auth, json={
                "model": "X100", "imei": luhn_imei(rnd), "sold_at": "2026-06-01"}),
                201, "product")
            lane = {"index": i, "sales": login(api(), sales["username"], PASSWORD),
                    "owner": owner_auth, "agent": agent_auth, "store": store,
                    "form_id": form["id"], "consumer_id": consumer["id"],
                    "product_id": product["id"], "tickets": []}
            lane["tickets"].append(expect(api().post("/tickets", headers=agent_auth,
                                                     json=ticket_body(lane)), 201,
                                          "ticket")["id"])
            deadline = time.monotonic() + PLAN_RETRY_SECONDS
            while True:  # the store reaches visits through channels' events
                reply = api().post("/visits", headers=lane["sales"], json={
                    "store_id": store["id"], "planned_at": now_iso()})
                if reply.status_code != 400 or time.monotonic() > deadline:
                    expect(reply, 201, "plan visit")
                    break
                time.sleep(0.2)
            return lane

        with ThreadPoolExecutor(SETUP_THREADS) as pool:
            lanes = list(pool.map(make_lane, range(connections)))
        return {"lanes": lanes, "run_id": run_id, "base_url": base_url}
    finally:
        for client in made:
            client.close()


def ticket_body(lane: dict) -> dict:
    return {"consumer_id": lane["consumer_id"], "product_id": lane["product_id"],
            "channel": "call_center", "fault_description": "开机黑屏，无法充电"}


def check_in_body(lane: dict) -> dict:
    store = lane["store"]  # ~33 m north of the store, inside the radius
    return {"lat": store["lat"] + 0.0003, "lon": store["lon"], "accuracy_m": 10,
            "at": now_iso()}


# --- the timed phase -----------------------------------------------------------------------

class Lane:
    """One connection's results: no locks, merged after the threads end."""

    def __init__(self):
        self.times: dict[str, list[float]] = {k: [] for k in KINDS}
        self.errors: dict[tuple[str, str], int] = {}
        self.bodies: list[str] = []
        self.ops = 0

    def request(self, kind: str, expected: int, send) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            reply = send()
        except httpx.HTTPError as exc:
            key = (kind, type(exc).__name__)
            self.errors[key] = self.errors.get(key, 0) + 1
            return None
        elapsed = time.perf_counter() - started
        if reply.status_code == expected:
            self.times[kind].append(elapsed)
            return reply
        key = (kind, str(reply.status_code))
        self.errors[key] = self.errors.get(key, 0) + 1
        if reply.status_code >= 500 and len(self.bodies) < MAX_BODIES:
            self.bodies.append(f"{kind} {reply.request.method} {reply.request.url.path}: "
                               f"HTTP {reply.status_code} {reply.text[:500]}")
        return None


def operate(client: httpx.Client, lane: dict, out: Lane, op: str, rnd: random.Random) -> None:
    if op == "read_me":
        out.request("read_me", 200, lambda: client.get("/me", headers=lane["sales"]))
    elif op == "read_store":
        out.request("read_store", 200, lambda: client.get(
            f"/stores/{lane['store']['id']}", headers=lane["sales"]))
    elif op == "read_ticket":
        ticket_id = rnd.choice(lane["tickets"])
        out.request("read_ticket", 200, lambda: client.get(
            f"/tickets/{ticket_id}", headers=lane["agent"]))
    elif op == "check_in":
        planned = out.request("plan_visit", 201, lambda: client.post(
            "/visits", headers=lane["sales"], json={"store_id": lane["store"]["id"],
                                                    "planned_at": now_iso()}))
        if planned is not None:
            visit_id = planned.json()["id"]
            out.request("check_in", 200, lambda: client.post(
                f"/visits/{visit_id}/check-in", headers=lane["sales"],
                json=check_in_body(lane)))
    elif op == "inspection_line":
        out.request("inspection_line", 201, lambda: client.post(
            f"/inspections/{lane['form_id']}/lines", headers=lane["owner"], json={
                "customer_name": "陈先生", "store_id": lane["store"]["id"],
                "product_type": rnd.choice(("热水器", "手机", "平板")),
                "quantity": rnd.randint(1, 20), "amount": f"{rnd.randint(100, 99999)}.00"}))
    elif op == "ticket_intake":
        opened = out.request("ticket_intake", 201, lambda: client.post(
            "/tickets", headers=lane["agent"], json=ticket_body(lane)))
        if opened is not None and len(lane["tickets"]) < 1000:
            lane["tickets"].append(opened.json()["id"])
    out.ops += 1


def drive(world: dict, seconds: float, seed: str) -> tuple[float, list[Lane]]:
    """Every lane busy for `seconds`; returns the wall time until the last lane stopped."""
    names = [name for name, _ in OPERATIONS]
    weights = [weight for _, weight in OPERATIONS]
    clients = [httpx.Client(base_url=world["base_url"], timeout=60) for _ in world["lanes"]]
    results = [Lane() for _ in world["lanes"]]
    gate = threading.Barrier(len(clients) + 1)
    deadline = [0.0]

    def run(i: int) -> None:
        rnd = random.Random(f"{seed}-{i}")
        client, lane, out = clients[i], world["lanes"][i], results[i]
        gate.wait()
        while time.perf_counter() < deadline[0]:
            operate(client, lane, out, rnd.choices(names, weights)[0], rnd)

    try:
        for client in clients:  # connections open before the clock starts
            client.get("/openapi.json")
        threads = [threading.Thread(target=run, args=(i,), daemon=True)
                   for i in range(len(clients))]
        for thread in threads:
            thread.start()
        started = time.perf_counter()
        deadline[0] = started + seconds
        gate.wait()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started, results
    finally:
        for client in clients:
            client.close()


# --- where the CPU goes --------------------------------------------------------------------

# --- RabbitMQ and outbox after the load ----------------------------------------------------

def vhost_of(env: dict) -> str:
    path = urlparse(env.get("CRM_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def queue_depths(env: dict) -> dict[str, int] | None:
    """name -> messages (ready + unacknowledged) in the stack's vhost, by rabbitmqctl or
    else the management API; None if neither answers."""
    vhost = vhost_of(env)
    if shutil.which("rabbitmqctl"):
        done = subprocess.run(["rabbitmqctl", "list_queues", "-p", vhost, "-q",
                               "--no-table-headers", "name", "messages"],
                              capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            depths = {}
            for line in done.stdout.splitlines():
                name, _, count = line.rpartition("\t")
                if name and count.strip().isdigit():
                    depths[name] = int(count)
            return depths
    amqp = urlparse(env.get("CRM_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    try:
        reply = httpx.get(f"http://{amqp.hostname or '127.0.0.1'}:15672/api/queues/"
                          f"{quote(vhost, safe='')}", timeout=10,
                          auth=(unquote(amqp.username or "guest"),
                                unquote(amqp.password or "guest")))
        reply.raise_for_status()
        return {q["name"]: int(q.get("messages", 0)) for q in reply.json()}
    except (httpx.HTTPError, ValueError):
        return None


def unpublished_outbox(env: dict) -> dict[str, int]:
    """Outbox rows not yet published, per service database."""
    import psycopg2
    server = env.get("CRM_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432")
    server = server.replace("+psycopg2", "").rstrip("/")
    prefix = env.get("CRM_DB_PREFIX", "crm")
    counts = {}
    for service in SERVICES:
        try:
            with psycopg2.connect(f"{server}/{prefix}_{service}") as conn, \
                    conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                counts[service] = cur.fetchone()[0]
            conn.close()
        except psycopg2.Error:
            counts[service] = -1
    return counts


def left_over(before: dict[str, int] | None, now: dict[str, int] | None) -> dict[str, int]:
    """Messages above each queue's depth before the run (a dead-letter queue that already
    held parked messages is not this run's doing)."""
    before = before or {}
    return {n: c - before.get(n, 0) for n, c in (now or {}).items() if c > before.get(n, 0)}


def drain(env: dict, before: dict[str, int] | None, seconds: float) -> dict:
    at_end = queue_depths(env)
    outbox_end = unpublished_outbox(env)
    after, waited = at_end, 0.0
    started = time.perf_counter()
    while after is not None and left_over(before, after) and waited < seconds:
        time.sleep(2)
        after = queue_depths(env)
        waited = time.perf_counter() - started
    return {"before": before, "at_end": at_end, "after": after, "waited": waited,
            "outbox_end": outbox_end, "outbox_after": unpublished_outbox(env)}


# --- the whole run -------------------------------------------------------------------------

def run_load(stack: Stack, seconds: float = SECONDS, connections: int = CONNECTIONS,
             warmup: float = WARMUP, drain_seconds: float = DRAIN_SECONDS) -> dict:
    """Setup, warm-up, the timed mixed load with CPU sampling, then queue depths and a
    drain. The stack must be started."""
    run_id = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    world = setup(stack, connections, run_id)
    setup_seconds = time.perf_counter() - started
    if warmup > 0:
        drive(world, warmup, f"{run_id}-warmup")
    before = queue_depths(stack.env)
    sampler = CpuSampler(stack)
    sampler.start()
    wall, lanes = drive(world, seconds, run_id)
    cpu = sampler.stop()
    queues = drain(stack.env, before, drain_seconds)
    times = {k: [t for lane in lanes for t in lane.times[k]] for k in KINDS}
    errors: dict[tuple[str, str], int] = {}
    for lane in lanes:
        for key, n in lane.errors.items():
            errors[key] = errors.get(key, 0) + n
    requests = sum(len(v) for v in times.values()) + sum(errors.values())
    kinds = {k: {"ok": len(v), "rps": len(v) / wall, "p50_ms": percentile(v, 50) * 1000,
                 "p99_ms": percentile(v, 99) * 1000} for k, v in times.items()}
    return {"seconds": wall, "connections": connections, "replicas": stack.replicas,
            "gateway_workers": int(stack.env.get("CRM_GATEWAY_WORKERS", "1")),
            "setup_seconds": setup_seconds, "requests": requests, "rps": requests / wall,
            "ok": sum(len(v) for v in times.values()),
            "ok_rps": sum(len(v) for v in times.values()) / wall,
            "ops": sum(lane.ops for lane in lanes), "kinds": kinds, "errors": errors,
            "bodies": [b for lane in lanes for b in lane.bodies][:MAX_BODIES],
            "all_p50_ms": percentile([t for v in times.values() for t in v], 50) * 1000,
            "all_p99_ms": percentile([t for v in times.values() for t in v], 99) * 1000,
            "cpu": cpu, "queues": queues}


def cpu_rows(cpu: dict) -> list[tuple[str, float]]:
    """(group, CPU seconds), biggest first."""
    return sorted(cpu["groups"].items(), key=lambda kv: -kv[1])


def queue_summary(queues: dict) -> list[str]:
    lines = []
    before, at_end, after = queues["before"], queues["at_end"], queues["after"]
    if at_end is None:
        return ["  queue depths: unavailable (no rabbitmqctl, no management API)"]
    busy_end = {n: c for n, c in at_end.items() if c}
    lines.append(f"  queue depths at the end: {sum(at_end.values())} messages in "
                 f"{len(busy_end)} of {len(at_end)} queues"
                 + (": " + ", ".join(f"{n}={c}" for n, c in sorted(
                     busy_end.items(), key=lambda kv: -kv[1])[:8]) if busy_end else ""))
    left = left_over(before, after)
    old = {n: c for n, c in (before or {}).items() if c}
    lines.append(f"  after the drain ({queues['waited']:.0f} s): {sum(left.values())} messages "
                 f"left by this run" + (": " + ", ".join(f"{n}={c}" for n, c in sorted(
                     left.items())) if left else "") + (" -> drained to 0" if not left else
                                                         " -> NOT drained"))
    if old:
        lines.append(f"  (not counted, already there before the run: "
                     f"{', '.join(f'{n}={c}' for n, c in sorted(old.items()))})")
    pending_end = {s: n for s, n in queues["outbox_end"].items() if n > 0}
    pending = {s: n for s, n in queues["outbox_after"].items() if n > 0}
    unreadable = sorted({s for key in ("outbox_end", "outbox_after")
                         for s, n in queues[key].items() if n < 0})
    if unreadable:
        lines.append(f"  (outbox of {', '.join(unreadable)} not readable at least once: the "
                     f"database refused the connection)")
    lines.append(f"  outbox rows unpublished at the end: {sum(pending_end.values())}"
                 f"{f' {pending_end}' if pending_end else ''}; after the drain: "
                 f"{sum(pending.values())}{f' {pending}' if pending else ''}")
    return lines


def report(result: dict) -> None:
    print(f"Mixed load: {result['connections']} connections, {result['seconds']:.1f} s, "
          f"{result['replicas']} process(es) per service, gateway workers "
          f"{result['gateway_workers']}, {result['cpu']['cores']} cores shared by everything "
          f"(setup {result['setup_seconds']:.1f} s, not timed)")
    print(f"  total: {result['requests']} requests, {result['rps']:.1f} req/s "
          f"({result['ok_rps']:.1f} req/s answered as expected; {result['ops']} operations,"
          f" {result['ops'] / result['seconds']:.1f} ops/s); all kinds p50 "
          f"{result['all_p50_ms']:.1f} ms, p99 {result['all_p99_ms']:.1f} ms")
    print(f"  {'kind':<16} {'ok':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for kind, row in result["kinds"].items():
        print(f"  {kind:<16} {row['ok']:7d} {row['rps']:8.1f} {row['p50_ms']:8.1f} "
              f"{row['p99_ms']:8.1f}")
    errors = result["errors"]
    if errors:
        print("  errors by kind and status: " + ", ".join(
            f"{k}/{s}={n}" for (k, s), n in sorted(errors.items())))
    else:
        print("  errors: none")
    fivexx = sum(n for (_, s), n in errors.items() if s.isdigit() and int(s) >= 500)
    if fivexx:
        print(f"  FINDING: {fivexx} responses with 5xx; first bodies:")
        for body in result["bodies"]:
            print(f"    {body}")
    cpu = result["cpu"]
    print(f"  CPU seconds in the {cpu['wall']:.1f} s window (machine: {cpu['machine_busy']:.1f}"
          f" of {cpu['machine_capacity']:.1f} core-seconds busy, "
          f"{100 * cpu['machine_busy'] / max(cpu['machine_capacity'], 1e-9):.0f}%):")
    rows = cpu_rows(cpu)
    pg = sum(s for g, s in rows if g.startswith("postgres"))
    for group, spent in rows:
        if spent >= 0.05:
            print(f"    {group:<40} {spent:7.1f} s  {spent / cpu['wall']:5.2f} cores")
    print(f"    {'(all PostgreSQL processes)':<40} {pg:7.1f} s  {pg / cpu['wall']:5.2f} cores")
    own = sum(s for g, s in rows if not g.startswith(("load generator", "other")))
    print(f"  CPU per answered request, gateway + services + PostgreSQL + RabbitMQ: "
          f"{1000 * own / max(result['ok'], 1):.1f} ms")
    other = cpu["groups"].get("other processes", 0.0) / cpu["wall"]
    if other > OTHER_WARN_CORES:
        print(f"  WARNING: processes outside this stack used {other:.2f} cores during the "
              f"window: another workload shared the machine, the figures are disturbed")
    for line in queue_summary(result["queues"]):
        print(line)


def drained(result: dict) -> bool:
    queues = result["queues"]
    return (queues["after"] is not None and not left_over(queues["before"], queues["after"])
            and not any(n > 0 for n in queues["outbox_after"].values()))


def tail(stack: Stack, chars: int = 2000) -> None:
    """The end of the log of every process of this stack but the S3 server."""
    if stack.log_dir is None:
        return
    for name in stack.processes:
        log = stack.log_dir / f"{name}.log"
        if name != "s3" and log.exists():
            print(f"--- tail of {log}\n{log.read_text(errors='replace')[-chars:]}")


def bench_env(**extra) -> dict:
    return dict(os.environ, CRM_DB_PREFIX="crmbench", CRM_ACCESS_LOG="false",
                CRM_LOG_LEVEL="WARNING", **extra)


def main() -> int:
    stack = Stack(env=bench_env(), log_dir=ROOT / ".run" / "bench-logs",
                  gateway_port=free_port())
    failed = True
    try:
        stack.start()
        result = run_load(stack, SECONDS, CONNECTIONS)
        report(result)
        fivexx = any(s.isdigit() and int(s) >= 500 for (_, s) in result["errors"])
        failed = fivexx or not drained(result)
        print(f"Checks: zero 5xx: {'yes' if not fivexx else 'NO'}; queues drained to 0: "
              f"{'yes' if drained(result) else 'NO'}")
    finally:
        if failed:
            tail(stack)
        stack.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
