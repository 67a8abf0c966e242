"""CPU time spent by each part of the machine during a measured window, from /proc.

The benches share one machine (2 cores here) between the load generator, the gateway, the
services, RabbitMQ and PostgreSQL; at saturation the CPU time all of them spend per
request sets the ceiling (cores x 1000 / ms per request, in req/s), and each part's share
says which one a faster result has to come from.
"""
import os
import re
import threading
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PG_TITLE = re.compile(r"^postgres: (?:[^:]+: )?(\S+) (\S+) ")


class CpuSampler:
    """CPU seconds (user + system, /proc/<pid>/stat) of every process on the machine over a
    window, grouped: the stack's processes (and their children) by name without the replica
    suffix, PostgreSQL backends by database, RabbitMQ, the load generator, the rest. Samples
    every second so processes that end inside the window keep their last figure."""

    def __init__(self, stack, interval: float = 1.0, names: dict[int, str] | None = None):
        self.stack = stack
        self.names = names or {}  # pid -> group, for processes the stack did not start
        self.interval = interval
        self.labels: dict[tuple[int, int], str] = {}
        self.first: dict[tuple[int, int], int] = {}
        self.last: dict[tuple[int, int], int] = {}
        self.started: bool | None = None
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _machine() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields[:8]) - idle, sum(fields[:8])

    def _scan(self) -> dict[tuple[int, int], tuple[int, int]]:
        """(pid, start time) -> (parent pid, ticks), labels cached for new processes."""
        seen = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    raw = f.read()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1:raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2:].split()
            pid = int(entry.name)
            key = (pid, int(fields[19]))
            seen[key] = (int(fields[1]), int(fields[11]) + int(fields[12]), comm)
        return seen

    def _label(self, key, parents: dict[int, int], comm: str,
               stack_pids: dict[int, str]) -> str:
        pid = key[0]
        probe, hops = pid, 0
        while probe > 1 and hops < 10:
            if probe in stack_pids:
                return re.sub(r"-\d+$", "", stack_pids[probe])
            if probe == os.getpid():  # the bench, or a tool it runs such as wrk
                return "load generator"
            probe, hops = parents.get(probe, 0), hops + 1
        if comm in ("beam.smp", "erl_child_setup", "epmd", "inet_gethost"):
            return "rabbitmq"
        if comm == "postgres" or comm.startswith("postgres"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    title = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                return "postgres (other)"
            match = PG_TITLE.match(title)
            if match and "_" in match.group(2):
                return f"postgres {match.group(2)}"
            return "postgres (server processes)"
        return "other processes"

    def _sample(self) -> None:
        seen = self._scan()
        parents = {key[0]: value[0] for key, value in seen.items()}
        stack_pids = {p.pid: name for name, p in self.stack.processes.items()}
        stack_pids.update(self.names)
        for key, (_, ticks, comm) in seen.items():
            if key not in self.labels:
                self.labels[key] = self._label(key, parents, comm, stack_pids)
                # A process born inside the window counts from zero.
                self.first[key] = ticks if self.started is None else 0
            self.last[key] = ticks

    def _loop(self) -> None:
        while not self.stop_event.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self.started = None
        self._sample()
        self.machine_start = self._machine()
        self.wall_start = time.perf_counter()
        self.started = True
        self.thread.start()

    def stop(self) -> dict:
        self.stop_event.set()
        self.thread.join()
        self._sample()
        busy0, total0 = self.machine_start
        busy1, total1 = self._machine()
        wall = time.perf_counter() - self.wall_start
        groups: dict[str, float] = {}
        processes: dict[str, list[float]] = {}
        for key, label in self.labels.items():
            spent = (self.last[key] - self.first[key]) / CLOCK_TICKS
            if spent > 0:
                groups[label] = groups.get(label, 0.0) + spent
                processes.setdefault(label, []).append(spent)
        cores = os.cpu_count() or 1
        return {"wall": wall, "cores": cores, "groups": groups, "processes": processes,
                "machine_busy": (busy1 - busy0) / CLOCK_TICKS,
                "machine_capacity": (total1 - total0) / CLOCK_TICKS}


def per_request(cpu: dict, requests: int) -> list[tuple[str, float]]:
    """(group, CPU ms per request), biggest first, with the machine's busy time no
    process was seen spending (processes born and gone between two samples, such as the
    PostgreSQL backend of a connection opened and closed in between) as its own row."""
    rows = sorted(((g, s * 1000 / requests) for g, s in cpu["groups"].items()),
                  key=lambda row: -row[1])
    unseen = cpu["machine_busy"] - sum(cpu["groups"].values())
    if unseen > 0:
        rows.append(("(short-lived processes, kernel)", unseen * 1000 / requests))
    return rows


def show_per_request(cpu: dict, requests: int, min_ms: float = 0.02) -> None:
    total = cpu["machine_busy"] * 1000 / requests
    print(f"    CPU per request {total:.2f} ms, the whole machine (ceiling on "
          f"{cpu['cores']} cores: {cpu['cores'] * 1000 / total:,.0f} req/s):")
    for group, ms in per_request(cpu, requests):
        if ms >= min_ms:
            print(f"      {group:<34} {ms:5.2f} ms  {ms * 100 / total:3.0f}%")
