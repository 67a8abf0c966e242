"""GET /api/v1/me through the whole system (gateway -> RabbitMQ -> accounts -> PostgreSQL)
against a baseline process doing the same token check and database read with no bus; then
the RPC cost alone against a raw kombu request/reply loop. Prints req/s, p50, p99, ratios.

Run: make bench   (needs wrk; the Makefile installs it from Debian's packages)
"""
import asyncio
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file is named like the gateway package; import the package, not this script.
sys.path[0] = str(ROOT / "deploy")
from local_stack import Stack, free_port, port_open, wait_for  # noqa: E402

# bench/ itself is off the path (this file would shadow the gateway package): load by file.
_spec = importlib.util.spec_from_file_location("bench_cpu", ROOT / "bench/cpu.py")
cpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cpu)

from crmkit.settings import DEFAULT_AMQP_URI  # noqa: E402

DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = 32


# Each wrk thread seeds its own generator (threads have separate Lua states).
RANDOM_PAUSE = """
local threads = 0
function setup(thread) threads = threads + 1; thread:set("seed", threads) end
function init(args) math.randomseed(os.time() * 1000 + seed) end
function delay() return -math.log(1 - math.random()) * %.1f end
"""


def wrk(url: str, token: str, connections: int = CONNECTIONS, delay_ms: float | None = None,
        random_pause: bool = False):
    """delay_ms: each connection pauses that long after every answer; with random_pause
    the pauses are exponentially distributed with that mean instead."""
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    if delay_ms is not None and random_pause:
        script.write(RANDOM_PAUSE % delay_ms)
    elif delay_ms is not None:
        script.write(f"function delay() return {delay_ms:.1f} end\n")
    script.close()
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{DURATION}s", "--latency",
                          "-s", script.name, url], capture_output=True, text=True).stdout
    os.unlink(script.name)

    def ms(label):
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "p50": ms("50"), "p99": ms("99"), "non2xx": int(errors.group(1)) if errors else 0}


def measured(url: str, token: str, stack, names: dict) -> tuple[dict, dict]:
    """A wrk run at saturation and the CPU every part of the machine spent during it."""
    sampler = cpu.CpuSampler(stack, interval=0.5, names=names)
    sampler.start()
    result = wrk(url, token)
    return result, sampler.stop()


def login(base: str, password: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/v1/auth/token", method="POST",
        data=json.dumps({"username": "admin", "password": password}).encode())
    with urllib.request.urlopen(request) as reply:
        return json.load(reply)["access_token"]


def show(name, r):
    print(f"  {name:<34} {r['rps']:>8.0f} req/s   p50 {r['p50']:6.2f} ms   "
          f"p99 {r['p99']:6.2f} ms   non-2xx {r['non2xx']}")


async def rpc_cost(amqp_uri: str, calls: int = 2000) -> dict:
    from gateway.rpc_client import RpcClient
    client = RpcClient(amqp_uri, 10)
    await client.connect()
    for _ in range(50):
        await client.call("accounts", "health", {}, {})
    started = time.perf_counter()
    for _ in range(calls):
        await client.call("accounts", "health", {}, {})
    sequential = calls / (time.perf_counter() - started)

    async def worker(n):
        for _ in range(n):
            await client.call("accounts", "health", {}, {})
    started = time.perf_counter()
    await asyncio.gather(*(worker(calls // 16) for _ in range(16)))
    concurrent = (calls // 16 * 16) / (time.perf_counter() - started)
    await client.close()
    return {"sequential": sequential, "concurrent16": concurrent}


def raw_kombu(amqp_uri: str, calls: int = 2000) -> float:
    """Request/reply over kombu with a trivial echo server: the floor any RPC pays."""
    from kombu import Connection, Consumer, Producer, Queue
    name = f"bench-echo-{uuid.uuid4().hex[:6]}"
    ready = threading.Event()
    stop = threading.Event()

    def server():
        with Connection(amqp_uri) as conn:
            channel = conn.channel()
            producer = Producer(channel)
            queue = Queue(name, auto_delete=True, channel=channel)

            def on_message(body, message):
                producer.publish(body, routing_key=message.properties["reply_to"],
                                 correlation_id=message.properties["correlation_id"])
                message.ack()
            with Consumer(channel, [queue], callbacks=[on_message]):
                ready.set()
                while not stop.is_set():
                    try:
                        conn.drain_events(timeout=0.2)
                    except TimeoutError:
                        pass
    thread = threading.Thread(target=server, daemon=True)
    thread.start()
    ready.wait(10)
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        reply = Queue(f"{name}-reply", exclusive=True, auto_delete=True, channel=channel)
        reply.declare()
        producer = Producer(channel)
        got = []
        with Consumer(channel, [reply], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            started = time.perf_counter()
            for i in range(calls):
                producer.publish({"i": i}, routing_key=name, reply_to=reply.name,
                                 correlation_id=str(i))
                while len(got) <= i:
                    conn.drain_events(timeout=5)
            rate = calls / (time.perf_counter() - started)
    stop.set()
    thread.join()
    return rate


def main():
    env = dict(os.environ, CRM_DB_PREFIX="crmbench", CRM_ACCESS_LOG="false",
               CRM_LOG_LEVEL="WARNING")
    stack = Stack(env=env, log_dir=ROOT / ".run" / "bench-logs", gateway_port=free_port())
    baseline = None
    try:
        stack.start()
        token = login(stack.url, stack.env["CRM_BOOTSTRAP_ADMIN_PASSWORD"])
        port = free_port()
        baseline = subprocess.Popen([sys.executable, str(ROOT / "bench/baseline_me.py"),
                                     str(port)], env=stack.env, cwd=ROOT)
        names = {baseline.pid: "baseline"}
        wait_for(lambda: port_open("127.0.0.1", port), "the baseline", 30)
        base_url = f"http://127.0.0.1:{port}/api/v1/me"
        gw_url = f"{stack.url}/api/v1/me"
        wrk(gw_url, token, connections=8)  # warm-up: fill connection pools and caches
        print(f"GET /api/v1/me, {CONNECTIONS} connections, {DURATION}s each, "
              f"{os.cpu_count()} cores shared by everything")
        system, system_cpu = measured(gw_url, token, stack, names)
        plain, plain_cpu = measured(base_url, token, stack, names)
        show("gateway -> bus -> accounts -> db", system)
        cpu.show_per_request(system_cpu, system["requests"])
        show("baseline (one process, no bus)", plain)
        cpu.show_per_request(plain_cpu, plain["requests"])
        print(f"  ratio gateway/baseline: {system['rps'] / plain['rps']:.2f}")
        # Half of saturation: 16 connections, each pausing so that together they offer
        # rps/2. The pause ignores response time (unknown below saturation), so the
        # offered rate is at most the target; the achieved rate is what is printed.
        # With the same pause after every answer, connections that started together stay
        # together: requests arrive in trains of up to 16 and the last of a train waits
        # for the 15 before it. Independent clients do not move in step, so the second
        # run draws each pause at random (exponential, same mean): arrivals close to a
        # Poisson process, the usual model of many independent users.
        target = system["rps"] / 2
        pause = 16 * 1000 / target
        half = wrk(gw_url, token, connections=16, delay_ms=pause)
        show(f"paced to <= {target:.0f}/s, same pause", half)
        half_random = wrk(gw_url, token, connections=16, delay_ms=pause, random_pause=True)
        show(f"paced to <= {target:.0f}/s, random pauses", half_random)
        baseline.terminate()
        baseline.wait()
        baseline = None
        amqp_uri = stack.env.get("CRM_AMQP_URI", DEFAULT_AMQP_URI)
        cost = asyncio.run(rpc_cost(amqp_uri))
        raw = raw_kombu(amqp_uri)
        print("RPC alone (accounts.health: one SELECT 1), one long-lived client:")
        print(f"  sequential      {cost['sequential']:8.0f} calls/s  "
              f"({1000 / cost['sequential']:.2f} ms per call)")
        print(f"  16 concurrent   {cost['concurrent16']:8.0f} calls/s")
        print(f"  raw kombu request/reply, sequential: {raw:8.0f} calls/s  "
              f"(ratio rpc/raw {cost['sequential'] / raw:.2f})")
    finally:
        if baseline is not None:
            baseline.terminate()
        stack.stop()


if __name__ == "__main__":
    main()
