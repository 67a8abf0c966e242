"""Reading one ticket: service_tickets' gRPC `GetTicket` (its own grpcio process, straight
to PostgreSQL) against the gateway's `GET /api/v1/tickets/{id}` (HTTP -> RabbitMQ RPC ->
the nameko service -> PostgreSQL), same ticket, same service agent's token.

Both are sequential calls on one kept-alive connection, CALLS each (BENCH_GRPC_CALLS
overrides), run in alternating blocks so machine noise hits both alike, after a warm-up.
Prints p50/p99 and calls/s of each and the ratios. Target: gRPC p50 < 5 ms.

Run: .venv/bin/python bench/tickets_grpc.py   (starts its own stack on databases crmbench_*;
bench/tickets.py calls `measure_get_ticket` with its own stack)
"""
import os
import sys
import time
import uuid
from pathlib import Path

import grpc
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
from local_stack import Stack, free_port  # noqa: E402

try:
    from service_tickets.protos_gen import tickets_pb2, tickets_pb2_grpc
except ModuleNotFoundError as missing:
    raise SystemExit("gRPC code is not generated: run `make protos` first") from missing

CALLS = int(os.environ.get("BENCH_GRPC_CALLS", "2000"))
BLOCKS = 4
WARM_UP = 100
TARGET_P50_MS = 5.0
PASSWORD = "bench-grpc-password"
READY_TIMEOUT_S = 60


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


def expect(reply: httpx.Response, status: int) -> dict:
    if reply.status_code != status:
        raise RuntimeError(f"{reply.request.method} {reply.request.url}: "
                           f"HTTP {reply.status_code} {reply.text[:300]}")
    return reply.json()


def open_ticket(api: httpx.Client, agent: dict) -> dict:
    phone = "137" + str(uuid.uuid4().int)[:8]
    consumer = expect(api.post("/consumers", headers=agent, json={
        "name": "王五", "phone": phone, "region": "华东"}), 201)
    return expect(api.post("/tickets", headers=agent, json={
        "consumer_id": consumer["id"], "channel": "call_center",
        "fault_description": "无法开机", "auto_dispatch": False}), 201)


def _wait_for_grpc(get, request, metadata) -> None:
    """The port opens before the server has accounts' revocation list (UNAVAILABLE)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            get(request, metadata=metadata, timeout=5)
            return
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _timed(call, count: int) -> list[float]:
    took = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        took.append(time.perf_counter() - started)
    return took


def _summary(name: str, took: list[float]) -> dict:
    p50, p99 = percentile(took, 50) * 1000, percentile(took, 99) * 1000
    rate = len(took) / sum(took)
    print(f"  {name:<34} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   {rate:7.0f} calls/s")
    return {"p50_ms": p50, "p99_ms": p99, "calls_per_s": rate}


def measure_get_ticket(stack: Stack, api: httpx.Client, admin: dict, ctx: dict,
                       calls: int = CALLS) -> dict:
    """`api` is an httpx client on the gateway's /api/v1; `ctx["agent"]` the headers of a
    logged-in service agent (`admin` is not needed here; kept for bench/tickets.py)."""
    agent = ctx["agent"]
    ticket = open_ticket(api, agent)
    path = f"/tickets/{ticket['id']}"
    metadata = (("authorization", agent["Authorization"]),)
    request = tickets_pb2.GetTicketRequest(ticket_id=ticket["id"])
    with grpc.insecure_channel(stack.grpc_target) as channel:
        get = tickets_pb2_grpc.TicketsStub(channel).GetTicket
        _wait_for_grpc(get, request, metadata)
        assert get(request, metadata=metadata).id == ticket["id"]
        assert expect(api.get(path, headers=agent), 200)["id"] == ticket["id"]

        def via_grpc():
            get(request, metadata=metadata, timeout=5)

        def via_gateway():
            reply = api.get(path, headers=agent)
            if reply.status_code != 200:
                raise RuntimeError(f"GET {path}: HTTP {reply.status_code}")

        _timed(via_grpc, WARM_UP)
        _timed(via_gateway, WARM_UP)
        grpc_took, gateway_took = [], []
        for _ in range(BLOCKS):
            grpc_took += _timed(via_grpc, calls // BLOCKS)
            gateway_took += _timed(via_gateway, calls // BLOCKS)
    print(f"  {len(grpc_took)} sequential reads of ticket {ticket['id']} each, "
          f"{BLOCKS} alternating blocks, {os.cpu_count()} cores shared by everything:")
    fast = _summary("gRPC GetTicket", grpc_took)
    slow = _summary("gateway GET /api/v1/tickets/{id}", gateway_took)
    print(f"  ratio gateway/gRPC: p50 {slow['p50_ms'] / fast['p50_ms']:.1f}x, calls/s "
          f"{fast['calls_per_s'] / slow['calls_per_s']:.1f}x in favour of gRPC")
    met = "met" if fast["p50_ms"] < TARGET_P50_MS else "NOT met"
    print(f"  target gRPC p50 < {TARGET_P50_MS:.0f} ms: {met}")
    return {"grpc": fast, "gateway": slow}


def main() -> None:
    env = dict(os.environ, CRM_DB_PREFIX="crmbench", CRM_ACCESS_LOG="false",
               CRM_LOG_LEVEL="WARNING")
    stack = Stack(env=env, log_dir=ROOT / ".run" / "bench-logs", gateway_port=free_port())
    try:
        stack.start()
        with httpx.Client(base_url=f"{stack.url}/api/v1", timeout=60) as api:
            admin_token = expect(api.post("/auth/token", json={
                "username": "admin", "password": stack.env["CRM_BOOTSTRAP_ADMIN_PASSWORD"]}),
                200)["access_token"]
            admin = {"Authorization": f"Bearer {admin_token}"}
            username = f"grpc-agent-{uuid.uuid4().hex[:8]}"
            expect(api.post("/users", headers=admin, json={
                "username": username, "password": PASSWORD, "display_name": "客服",
                "roles": ["service_agent"], "org_unit_id": 1, "manager_id": 1}), 201)
            token = expect(api.post("/auth/token", json={
                "username": username, "password": PASSWORD}), 200)["access_token"]
            print("reading one ticket, sequential calls:")
            measure_get_ticket(stack, api, admin, {"agent": {"Authorization": f"Bearer {token}"}})
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
