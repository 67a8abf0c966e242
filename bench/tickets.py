"""After-sales hot paths through the whole system.

(a) Parts-order approvals racing for the last units: ROUNDS rounds; in each, a fresh part
with 20 units in a branch warehouse and 50 one-unit orders (setup, not timed), then 50
approvals sent at once from 50 threads through the gateway (2 uvicorn workers, so the race
crosses processes). Every round must end with exactly 20 approved, 30 refused with 409 and
the stock row at on_hand 20 / reserved 20. Prints decisions/s (approved + refused per
second of wall time) and, side by side, the same race as bare SQL: 50 threads each running
one conditional `UPDATE ... SET reserved = reserved + 1 WHERE on_hand - reserved >= 1` on
their own connection to the same PostgreSQL (the floor any correct approval path pays).

(b) Reading one ticket: gRPC `GetTicket` against the gateway's `GET /tickets/{id}`, run
sequentially side by side (see bench/tickets_grpc.py).

Run: .venv/bin/python bench/tickets.py   (starts its own stack on databases crmbench_*)
"""
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
sys.path.insert(0, str(ROOT / "bench"))
from common import expect, login  # noqa: E402
from local_stack import Stack, free_port  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
UNITS, ORDERS = 20, 50
PASSWORD = "bench-tickets-password"


def setup(api: httpx.Client, admin: dict, run_id: str) -> dict:
    agent = expect(api.post("/users", headers=admin, json={
        "username": f"agent-{run_id}", "password": PASSWORD, "display_name": "客服",
        "roles": ["service_agent"], "org_unit_id": 1, "manager_id": 1}), 201)
    warehouse = expect(api.post("/warehouses", headers=admin, json={
        "code": f"WH-{run_id}", "name": "华东仓", "kind": "branch"}), 201)
    return {"agent": login(api, agent["username"], PASSWORD), "warehouse": warehouse,
            "partner_id": int(run_id, 16) % 10**9 + 1}


def race_round(api: httpx.Client, base_url: str, admin: dict, ctx: dict, n: int) -> dict:
    part = expect(api.post("/parts", headers=admin, json={
        "code": f"P-{uuid.uuid4().hex[:10]}", "name": "主板", "unit_price": "450.00"}), 201)
    expect(api.post("/stocks/adjustments", headers=admin, json={
        "warehouse_id": ctx["warehouse"]["id"], "part_id": part["id"], "qty": UNITS,
        "reason": "bench"}), 200)
    orders = [expect(api.post("/parts-orders", headers=ctx["agent"], json={
        "partner_id": ctx["partner_id"], "warehouse_id": ctx["warehouse"]["id"],
        "lines": [{"part_id": part["id"], "qty": 1}]}), 201)["id"] for _ in range(ORDERS)]
    clients = [httpx.Client(base_url=base_url, timeout=60) for _ in range(ORDERS)]
    for client in clients:  # connections open before the race starts
        client.get("/openapi.json")
    gate = threading.Barrier(ORDERS + 1)

    def approve(i: int) -> int:
        gate.wait()
        return clients[i].post(f"/parts-orders/{orders[i]}/transitions", headers=ctx["agent"],
                               json={"to": "approved"}).status_code
    with ThreadPoolExecutor(ORDERS) as pool:
        futures = [pool.submit(approve, i) for i in range(ORDERS)]
        gate.wait()
        started = time.perf_counter()
        codes = [f.result() for f in futures]
        wall = time.perf_counter() - started
    for client in clients:
        client.close()
    stock = expect(api.get("/stocks", headers=admin, params={
        "warehouse_id": ctx["warehouse"]["id"], "part_id": part["id"]}), 200)["items"][0]
    ok = (codes.count(200) == UNITS and codes.count(409) == ORDERS - UNITS
          and stock["on_hand"] == UNITS and stock["reserved"] == UNITS)
    print(f"  round {n}: {codes.count(200)} approved, {codes.count(409)} refused (409), "
          f"other {len(codes) - codes.count(200) - codes.count(409)}; stock on_hand "
          f"{stock['on_hand']} reserved {stock['reserved']}; {wall * 1000:.0f} ms -> "
          f"{ORDERS / wall:.0f} decisions/s {'OK' if ok else 'WRONG'}")
    return {"ok": ok, "wall": wall}


def sql_race_round(dsn: str) -> dict:
    """The same race as bare conditional UPDATEs, one connection per thread."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_race (id int PRIMARY KEY, "
                    "on_hand int NOT NULL, reserved int NOT NULL)")
        cur.execute("INSERT INTO bench_race VALUES (1, %s, 0) ON CONFLICT (id) DO UPDATE "
                    "SET on_hand = EXCLUDED.on_hand, reserved = 0", (UNITS,))
    connections = [psycopg2.connect(dsn) for _ in range(ORDERS)]
    gate = threading.Barrier(ORDERS + 1)

    def take(i: int) -> bool:
        gate.wait()
        conn = connections[i]
        with conn.cursor() as cur:
            cur.execute("UPDATE bench_race SET reserved = reserved + 1 WHERE id = 1 "
                        "AND on_hand - reserved >= 1 RETURNING reserved")
            won = cur.fetchone() is not None
        conn.commit()
        return won
    with ThreadPoolExecutor(ORDERS) as pool:
        futures = [pool.submit(take, i) for i in range(ORDERS)]
        gate.wait()
        started = time.perf_counter()
        wins = sum(f.result() for f in futures)
        wall = time.perf_counter() - started
    for conn in connections:
        conn.close()
    return {"ok": wins == UNITS, "wall": wall}


def main():
    env = dict(os.environ, CRM_DB_PREFIX="crmbench", CRM_ACCESS_LOG="false",
               CRM_LOG_LEVEL="WARNING", CRM_GATEWAY_WORKERS="2")
    stack = Stack(env=env, log_dir=ROOT / ".run" / "bench-logs", gateway_port=free_port())
    run_id = uuid.uuid4().hex[:8]
    try:
        stack.start()
        base_url = f"{stack.url}/api/v1"
        with httpx.Client(base_url=base_url, timeout=60) as api:
            admin = login(api, "admin", stack.env["CRM_BOOTSTRAP_ADMIN_PASSWORD"])
            ctx = setup(api, admin, run_id)
            print(f"(a) {ORDERS} one-unit approvals racing for {UNITS} units, {ROUNDS} rounds, "
                  f"gateway with 2 workers, {os.cpu_count()} cores shared by everything:")
            rounds = [race_round(api, base_url, admin, ctx, n + 1) for n in range(ROUNDS)]
            os.environ["CRM_DB_PREFIX"] = "crmbench"
            from crmkit.settings import database_settings
            dsn = database_settings("service_tickets").url.replace("+psycopg2", "")
            bare = [sql_race_round(dsn) for _ in range(ROUNDS)]
            with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
                cur.execute("DROP TABLE IF EXISTS bench_race")
            path = statistics.median(r["wall"] for r in rounds)
            floor = statistics.median(r["wall"] for r in bare)
            print(f"  median race: gateway path {path * 1000:.0f} ms ({ORDERS / path:.0f} "
                  f"decisions/s), bare conditional UPDATE {floor * 1000:.1f} ms "
                  f"({ORDERS / floor:.0f}/s); ratio {path / floor:.1f}x the bare SQL time")
            print(f"  exactly {UNITS} approved in every round: "
                  f"{'yes' if all(r['ok'] for r in rounds) else 'NO'} (bare SQL: "
                  f"{'yes' if all(r['ok'] for r in bare) else 'NO'})")
            grpc_bench = ROOT / "bench" / "tickets_grpc.py"
            if grpc_bench.exists():
                import tickets_grpc
                print("(b) reading one ticket, sequential calls:")
                tickets_grpc.measure_get_ticket(stack, api, admin, ctx)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
