"""Scale-out on one machine: bench/load.py's mixed load against 1 and then 2 processes of
every service (and as many gateway workers), side by side.

For each side: a fresh stack (`Stack(..., replicas=N)`, databases crmbench_*), the same
setup, BENCH_WARMUP seconds of warm-up, BENCH_SECONDS (default 30 here) of load from
BENCH_CONNECTIONS (default 32) connections, queue depths and a drain; then the stack is
stopped before the next side starts. BENCH_GATEWAY_WORKERS fixes the gateway's workers on
both sides (default: as many as the replicas). BENCH_REPLICAS="1,2" sets the sides.

Each service keeps the same PostgreSQL connection budget on both sides: its pool
(CRM_DB_POOL_SIZE + CRM_DB_MAX_OVERFLOW, default 20 + 0) is split over its replicas
(10 + 0 each with 2). With the full pool in every process (BENCH_POOL=keep), 13 processes
x 20 connections exceed a stock PostgreSQL's max_connections = 100: an earlier run got 23
responses 503 "database unavailable" and hundreds of refused connections in reporting's
event handlers (retried, so nothing was lost).

Prints both runs, a side-by-side table (throughput and p50/p99 per kind), the throughput
ratio (target >= 1.5x where the service, not the machine, is the bottleneck) and where the
CPU went on each side (CPU seconds per process group from /proc/<pid>/stat, PostgreSQL
backends by database, RabbitMQ, the load generator), then says which was the bottleneck:
the machine (its cores busy), one service process (a single eventlet process near one
core while the machine had room), or neither.

Run: .venv/bin/python bench/replicas.py
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
sys.path.insert(0, str(ROOT / "bench"))
from load import KINDS, bench_env, drained, report, run_load, tail  # noqa: E402
from local_stack import Stack, free_port  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SIDES = tuple(int(x) for x in os.environ.get("BENCH_REPLICAS", "1,2").split(","))
TARGET_RATIO = 1.5
POOL_SIZE = int(os.environ.get("CRM_DB_POOL_SIZE", "20"))
MAX_OVERFLOW = int(os.environ.get("CRM_DB_MAX_OVERFLOW", "0"))
MACHINE_BOUND = 0.90   # share of all cores busy above which the machine is the limit
PROCESS_BOUND = 0.85   # cores used by one single-threaded process above which it is the limit


def pool_env(replicas: int) -> dict:
    """Each service's PostgreSQL connection budget split over its replicas (BENCH_POOL=keep
    gives every process the full default pool instead)."""
    if os.environ.get("BENCH_POOL", "split") == "keep":
        return {}
    size, overflow = max(1, POOL_SIZE // replicas), max(0, MAX_OVERFLOW // replicas)
    # The gRPC server (one process, idle here) wants a connection for each of its threads.
    return {"CRM_DB_POOL_SIZE": str(size), "CRM_DB_MAX_OVERFLOW": str(overflow),
            "CRM_GRPC_MAX_WORKERS": str(min(16, size + overflow))}


def one_side(replicas: int) -> dict:
    workers = os.environ.get("BENCH_GATEWAY_WORKERS", str(replicas))
    pool = pool_env(replicas)
    if pool:
        print(f"  PostgreSQL pool per process: {pool['CRM_DB_POOL_SIZE']} + "
              f"{pool['CRM_DB_MAX_OVERFLOW']} overflow (the service's budget of "
              f"{POOL_SIZE} + {MAX_OVERFLOW} split over {replicas})", flush=True)
    stack = Stack(env=bench_env(CRM_GATEWAY_WORKERS=workers, **pool),
                  log_dir=ROOT / ".run" / "bench-logs", gateway_port=free_port(),
                  replicas=replicas)
    ok = False
    try:
        stack.start()
        result = run_load(stack, SECONDS, CONNECTIONS)
        ok = True
        return result
    finally:
        if not ok:
            tail(stack)
        stack.stop()


def busiest_process(result: dict) -> tuple[str, float]:
    """The stack process (not PostgreSQL, RabbitMQ or the load generator) that used the
    most CPU, in cores."""
    cpu = result["cpu"]
    best = ("none", 0.0)
    for group, spent in cpu["processes"].items():
        if group.startswith(("postgres", "rabbitmq", "load generator", "other")):
            continue
        top = max(spent) / cpu["wall"]
        if top > best[1]:
            best = (group, top)
    return best


def cores(result: dict, group: str) -> float:
    cpu = result["cpu"]
    return cpu["groups"].get(group, 0.0) / cpu["wall"]


def side_by_side(results: list[dict]) -> None:
    head = "".join(f" | {r['replicas']} replica(s): req/s   p50   p99" for r in results)
    print(f"  {'kind':<16}{head}")
    for kind in KINDS:
        cells = "".join(f" | {r['kinds'][kind]['rps']:19.1f} {r['kinds'][kind]['p50_ms']:5.0f} "
                        f"{r['kinds'][kind]['p99_ms']:5.0f}" for r in results)
        print(f"  {kind:<16}{cells}")
    cells = "".join(f" | {r['rps']:19.1f} {r['all_p50_ms']:5.0f} {r['all_p99_ms']:5.0f}"
                    for r in results)
    print(f"  {'all requests':<16}{cells}")
    print(f"  {'errors':<16}" + "".join(f" | {sum(r['errors'].values()):31d}"
                                       for r in results))
    print("  CPU, cores used on average over the timed window (CPU seconds / wall seconds):")
    groups = sorted({g for r in results for g in r["cpu"]["groups"]},
                    key=lambda g: -max(cores(r, g) for r in results))
    print(f"    {'process group':<40}" + "".join(f" {r['replicas']:>5} rep" for r in results))
    for group in groups:
        if max(cores(r, group) for r in results) >= 0.01:
            print(f"    {group:<40}" + "".join(f" {cores(r, group):9.2f}" for r in results))
    pg = [sum(cores(r, g) for g in r["cpu"]["groups"] if g.startswith("postgres"))
          for r in results]
    print(f"    {'(all PostgreSQL)':<40}" + "".join(f" {p:9.2f}" for p in pg))
    print(f"    {'machine busy (of ' + str(results[0]['cpu']['cores']) + ' cores)':<40}"
          + "".join(f" {r['cpu']['machine_busy'] / r['cpu']['wall']:9.2f}" for r in results))


def verdict(results: list[dict]) -> None:
    base, top = results[0], results[-1]
    ratio = top["ok_rps"] / base["ok_rps"] if base["ok_rps"] else float("nan")
    print(f"Throughput ratio {top['replicas']} / {base['replicas']} replicas (requests answered "
          f"as expected per second): {top['ok_rps']:.1f} / {base['ok_rps']:.1f} = "
          f"{ratio:.2f}x (target >= {TARGET_RATIO}x where the service is the bottleneck)")
    for r in results:
        share = r["cpu"]["machine_busy"] / max(r["cpu"]["machine_capacity"], 1e-9)
        name, used = busiest_process(r)
        print(f"  {r['replicas']} replica(s): machine {100 * share:.0f}% busy; busiest single "
              f"process {name} at {used:.2f} cores; load generator "
              f"{cores(r, 'load generator'):.2f} cores")
    base_share = base["cpu"]["machine_busy"] / max(base["cpu"]["machine_capacity"], 1e-9)
    name, used = busiest_process(base)
    if base_share >= MACHINE_BOUND:
        print(f"Bottleneck: the MACHINE. With one process per service its {base['cpu']['cores']} "
              f"cores were already {100 * base_share:.0f}% busy (gateway, services, PostgreSQL,"
              f" RabbitMQ and this load generator share them), so a second replica can only "
              f"divide the same CPU; the ratio measures the cost of more processes, not what "
              f"replicas buy on separate machines. The 1.5x target does not apply here.")
    elif used >= PROCESS_BOUND:
        met = "met" if ratio >= TARGET_RATIO else "NOT met"
        print(f"Bottleneck: the SERVICE. {name} used {used:.2f} cores in one process (eventlet "
              f"runs Python on one core) while the machine had room; target {met} "
              f"({ratio:.2f}x).")
    else:
        print(f"Bottleneck: neither the machine ({100 * base_share:.0f}% busy) nor one process "
              f"(at most {used:.2f} cores, {name}); latency (round trips, locks) limits this "
              f"load: more connections would add throughput.")


def main() -> int:
    print(f"Replicas: the mixed load of bench/load.py, {CONNECTIONS} connections, {SECONDS:.0f} s "
          f"per side, sides {SIDES} processes per service, {os.cpu_count()} cores shared by "
          f"everything")
    results = []
    for replicas in SIDES:
        print(f"\n== {replicas} replica(s) of every service ==", flush=True)
        result = one_side(replicas)
        report(result)
        results.append(result)
    print("\n== side by side ==")
    side_by_side(results)
    verdict(results)
    fivexx = any(s.isdigit() and int(s) >= 500 for r in results for (_, s) in r["errors"])
    all_drained = all(drained(r) for r in results)
    print(f"Checks: zero 5xx: {'yes' if not fivexx else 'NO'}; queues drained to 0 after "
          f"every side: {'yes' if all_drained else 'NO'}")
    return 1 if fivexx or not all_drained else 0


if __name__ == "__main__":
    sys.exit(main())
