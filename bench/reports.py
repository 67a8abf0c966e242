"""Monthly reports over a year of facts (issue 8, "Measure"): 5,000,000 inspection lines and
2,000,000 visits across 9 regions and 2,000 channel owners, read through the running
reporting service, against a hand-written GROUP BY over the raw rows in the same run; then
catching up one day of new facts, and the event-to-report lag at 200 events/s.

Setup (not timed). The whole stack starts on databases `crmbench_*`. Through the gateway, as
admin: 9 region units under HQ with 3 brand management centres each, a region manager in
region 1 and a VP at HQ (real users; the gateway part logs in as them). Their events reach
reporting's directory and org unit copies the normal way. Then, with the services idle, the
read models are seeded straight into crmbench_reporting with SQL, in the shape the
projections produce (ids from 10,000,000 up, so they never meet real rows):
- `directory_users`: 2,000 channel owners (BENCH_OWNERS), owner j in region j % 9, centre
  (j // 9) % 3, with the real org paths `/1/<region>/<centre>/`;
- `channel_partners`: 6,000 partners (BENCH_PARTNERS), partner p owned by owner p % 2,000;
- the raw lines (BENCH_LINES), 12 months (BENCH_MONTHS) ending with the current one, spread
  evenly over the months and skewed over partners (a few large ones) and over 8 product
  types, into an unlogged scratch table `bench_raw_lines` (month, inspection_id, partner_id,
  owner_id, product_type, quantity, amount), indexed on (month, owner_id) like the read
  model; a form is one partner's month, owned by the partner's owner;
- `channel_line_totals` = exactly what `inspection_line_added` upserts would leave: the raw
  lines summed per form and product type (INSERT ... SELECT ... GROUP BY);
  `inspection_forms` = one row per form (older months reviewed, last month a mix, the
  current month mostly draft);
- visits the same way: 2,000,000 raw visits (BENCH_VISITS) into `bench_raw_visits` (month,
  user_id, store_id, status), summed into `visit_month_totals` and `visited_stores`
  (what `visit_planned` / `_checked_in` / `_completed` leave), with 20,000 stores,
  targets and a few fraud signals.

Reports (the month measured is the last closed one). Callers: the region manager (org path
of region 1) and the VP (org path of HQ: the whole company, scoped through the same
subtree rule; only `admin` skips scope). Each group_by (partner, owner, hq), BENCH_RUNS (50)
sequential calls after 3 warm-up calls (a slow one stops after 15 s, at least 10 calls; the
count is printed), p50/p95:
- RPC: `reporting.channel_report(query={month, group_by, format: json})` with the caller's
  context (what the gateway sends), from a nameko standalone proxy;
- gateway: `GET /api/v1/reports/channels?month=&group_by=&format=json` with the user's token;
- in process, diagnostic: `channel_report.build()` on a session of its own (SQL + Python,
  no bus, no JSON, no cache), half as many calls: what building the report costs, i.e.
  what the first call after a change of that month's facts (or of the directory) pays on
  top of the RPC. The RPC and gateway calls are answered from reporting's report cache
  once the first warm-up call has built it (nothing changes the month meanwhile);
- the RPC floor: `reporting.health` (no database, a tiny reply) through the same proxy.
Baseline in the same run: the hand-written GROUP BY over the month's raw lines joined to
`directory_users` for the same scope (count, sum(quantity), sum(amount) per key and product
type; plain psycopg2, results fetched), BENCH_BASELINE_RUNS (5) runs after one warming run,
with the server's settings and with jit off, the faster median taken. It computes the line
figures only (not form statuses or channel shares), so it does less than the report.
Checked: the report's figures equal the baseline's, per key and product type, for every
caller and group_by. Also timed: `json.loads` of the report's JSON in this process, what
any client pays before it holds the answer; where the raw query is less than 20x that, the
summary says the 20x target is out of reach for a JSON answer. The visit report is timed
too, against a raw GROUP BY over the month's visits (counters and distinct stores).

Catching up one day: BENCH_DAY_EVENTS `inspection_line_added` events (default lines / (12 x
30), ~13,900), each a new line on a draft form of the current month, with the envelope
channels' relay publishes (`crmkit.outbox.envelope` fields, data as channels'
`inspections._event_data` + the dumped line), published straight onto `channels.events`
(routing key = type, persistent, message_id = event_id) as fast as one connection goes,
without publisher confirms, the bodies encoded to JSON before the clock starts; the real
consumer runs (it takes the backlog in batches, CRM_EVENT_BATCH_MAX). Timed from the first
publish until a separate connection, polling every 50 ms, sees the current month's line
total in `channel_line_totals` grown by the number of events; the quantities and amounts are then
checked to the cent. Printed with the CPU seconds spent in the window by the reporting
process, by its PostgreSQL backends and by the whole machine (from /proc). Here the
publisher shares the machine with the consumer (and alone reaches ~3,000-8,000 events/s).

Catching up a backlog (the target's measure): every reporting process is stopped
(SIGKILL, with nothing in flight), another day of events is published and routed into its
queue (not timed), the processes are started again; timed from the moment the queue has a
consumer (a passive declare, polled every 10 ms) until the day's lines are all applied.

Lag: BENCH_LAG_RATE (200) `inspection_line_added` events per second for BENCH_LAG_SECONDS
(25), published on schedule through `crmkit.outbox.EventPublisher` (the relay's own
publisher, with confirms); each event's send time is taken before its publish. An event is
visible when its `event_archive` row is: the consumer writes it in the same transaction as
the read-model upsert, so it commits together with the figures. Polled every 20 ms (the
lag is overstated by up to one poll). Not included: channels' commit and its relay's
pickup of the outbox row.

Targets: region < 50 ms, company < 200 ms, >= 20x faster than the raw GROUP BY, one day
caught up < 5 s; the lag p99 at 200 events/s is printed.

Run: .venv/bin/python bench/reports.py   (starts its own stack on databases crmbench_*;
~6 minutes; knobs: BENCH_LINES, BENCH_VISITS, BENCH_OWNERS, BENCH_PARTNERS, BENCH_MONTHS,
BENCH_RUNS, BENCH_BASELINE_RUNS, BENCH_DAY_EVENTS, BENCH_LAG_RATE, BENCH_LAG_SECONDS).
Each run first deletes the previous run's bench rows (the id range above, and the archived
bench events with their claims); the raw tables are dropped at the end unless BENCH_KEEP=1;
the seeded read-model rows stay until the next run.
"""
import importlib.util
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT / "deploy"))
# bench/ itself is off the path (this file would shadow a service package), so the
# shared helpers load by file.
_spec = importlib.util.spec_from_file_location("bench_common", HERE / "common.py")
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)
expect, login = common.expect, common.login
wait_for_count = common.wait_for_count
from local_stack import Stack, free_port  # noqa: E402

LINES = int(os.environ.get("BENCH_LINES", "5000000"))
VISITS = int(os.environ.get("BENCH_VISITS", "2000000"))
OWNERS = int(os.environ.get("BENCH_OWNERS", "2000"))
PARTNERS = int(os.environ.get("BENCH_PARTNERS", "6000"))
MONTHS = int(os.environ.get("BENCH_MONTHS", "12"))
RUNS = int(os.environ.get("BENCH_RUNS", "50"))
IN_PROCESS_RUNS = max(5, RUNS // 2)
BASELINE_RUNS = int(os.environ.get("BENCH_BASELINE_RUNS", "5"))
DAY_EVENTS = int(os.environ.get("BENCH_DAY_EVENTS", str(LINES // (12 * 30))))
LAG_RATE = float(os.environ.get("BENCH_LAG_RATE", "200"))
LAG_SECONDS = float(os.environ.get("BENCH_LAG_SECONDS", "25"))
KEEP = os.environ.get("BENCH_KEEP") == "1"
REGIONS, CENTERS = 9, 3
STORES_PER_OWNER = 10
WARMUP = 3
MIN_RUNS, BUDGET_S = 10, 15.0
BASE = 10_000_000
SPAN = 10_000_000
PASSWORD = "bench-reports-password"
GROUPS = ("partner", "owner", "hq")
TARGET_REGION_MS, TARGET_COMPANY_MS, TARGET_RATIO, TARGET_CATCH_UP_S = 50, 200, 20, 5
CATCH_UP_POLL_S, LAG_POLL_S, DRAIN_DEADLINE_S = 0.05, 0.02, 180

# Water heaters and the rest of the range, with a list price per unit.
PRODUCT_TYPES = [("燃气热水器", "3200"), ("电热水器", "1800"), ("空气能热水器", "6800"),
                 ("壁挂炉", "5200"), ("净水器", "2600"), ("太阳能热水器", "4200"),
                 ("燃气灶", "1500"), ("配件", "120")]
PARTNER_KINDS = ("national_distributor", "provincial_distributor", "local_distributor",
                 "carrier", "chain", "online_retailer", "tv_retailer", "service_provider")
CITIES = ["深圳", "广州", "厦门", "北京", "济南", "上海", "杭州", "南京", "武汉", "成都",
          "西安", "沈阳", "重庆", "长沙", "郑州", "青岛"]
TRADES = ["华新", "达盛", "恒瑞", "丰利", "鑫隆", "宏信", "博德", "安康", "汇联", "星辉"]
SHOPS = ["电器", "商贸", "家电连锁", "通讯", "厨卫"]
FRAUD_KINDS = ("outside_radius", "impossible_speed", "photo_reused", "photo_time_skew")

# --- seeding SQL -------------------------------------------------------------------------
CLEAN_SQL = (
    "DROP TABLE IF EXISTS bench_raw_lines",
    "DROP TABLE IF EXISTS bench_raw_visits",
    """DELETE FROM processed_events p USING event_archive a
       WHERE p.event_id = a.event_id AND a.type = 'inspection_line_added'
       AND (a.envelope #>> '{data,inspection_id}')::bigint BETWEEN %(low)s AND %(high)s""",
    """DELETE FROM event_archive WHERE type = 'inspection_line_added'
       AND (envelope #>> '{data,inspection_id}')::bigint BETWEEN %(low)s AND %(high)s""",
    "DELETE FROM channel_line_totals WHERE inspection_id BETWEEN %(low)s AND %(high)s",
    "DELETE FROM inspection_forms WHERE inspection_id BETWEEN %(low)s AND %(high)s",
    "DELETE FROM channel_partners WHERE partner_id BETWEEN %(low)s AND %(high)s",
    "DELETE FROM visit_month_totals WHERE user_id BETWEEN %(low)s AND %(high)s",
    "DELETE FROM visited_stores WHERE user_id BETWEEN %(low)s AND %(high)s",
    "DELETE FROM visit_targets WHERE user_id BETWEEN %(low)s AND %(high)s",
    "DELETE FROM fraud_signal_totals WHERE user_id BETWEEN %(low)s AND %(high)s",
    "DELETE FROM stores WHERE store_id BETWEEN %(low)s AND %(high)s",
    "DELETE FROM directory_users WHERE user_id BETWEEN %(low)s AND %(high)s",
)
SESSION_SQL = ("SET work_mem = '256MB'", "SET maintenance_work_mem = '512MB'",
               "SET synchronous_commit = off")
HELPERS_SQL = (
    "CREATE TEMP TABLE bench_months (idx int PRIMARY KEY, month varchar(7))",
    "CREATE TEMP TABLE bench_types (idx int PRIMARY KEY, name varchar(100), price numeric)",
)
USERS_SQL = ("INSERT INTO directory_users (user_id, display_name, org_unit_id, org_path, "
             "manager_id, roles, active, locale, as_of) VALUES %s")
USERS_TEMPLATE = "(%s, %s, %s, %s, %s, '{channel_owner}', true, 'zh-CN', now())"
PARTNERS_SQL = ("INSERT INTO channel_partners (partner_id, name, kind, owner_id, "
                "channel_share, as_of) VALUES %s")
PARTNERS_TEMPLATE = "(%s, %s, %s, %s, %s, now())"
RAW_LINES_TABLE_SQL = """
    CREATE UNLOGGED TABLE bench_raw_lines (
        month varchar(7) NOT NULL, inspection_id bigint NOT NULL, partner_id bigint NOT NULL,
        owner_id bigint NOT NULL, product_type varchar(100) NOT NULL, quantity int NOT NULL,
        amount numeric(16, 2) NOT NULL)"""
# Lines in month order (as they arrive), partners and product types skewed, 1-12 units.
RAW_LINES_SQL = """
    INSERT INTO bench_raw_lines
    SELECT m.month, %(low)s + l.mi * %(partners)s + l.pi, p.partner_id, p.owner_id, t.name,
           l.q, round(l.q * t.price * (0.85 + 0.3 * l.r), 2)
    FROM (SELECT g, (g * %(months)s / %(lines)s)::int AS mi,
                 floor(%(partners)s * power(random(), 1.6))::int AS pi,
                 floor(%(types)s * power(random(), 1.8))::int AS ti,
                 1 + floor(12 * power(random(), 3))::int AS q,
                 random()::numeric AS r
          FROM generate_series(0::bigint, %(lines)s - 1) g) l
    JOIN bench_months m ON m.idx = l.mi
    JOIN channel_partners p ON p.partner_id = %(low)s + l.pi
    JOIN bench_types t ON t.idx = l.ti
    ORDER BY l.g"""
RAW_LINES_INDEX_SQL = "CREATE INDEX ON bench_raw_lines (month, owner_id)"
TOTALS_SQL = """
    INSERT INTO channel_line_totals (inspection_id, product_type, month, partner_id, owner_id,
                                     line_count, quantity, amount)
    SELECT inspection_id, product_type, month, partner_id, owner_id, count(*), sum(quantity),
           sum(amount)
    FROM bench_raw_lines GROUP BY inspection_id, product_type, month, partner_id, owner_id
    ORDER BY inspection_id, product_type"""
FORMS_SQL = """
    INSERT INTO inspection_forms (inspection_id, partner_id, partner_name, month, owner_id,
                                  status, owner_as_of)
    SELECT f.inspection_id, f.partner_id, p.name, f.month, f.owner_id,
           CASE WHEN f.month = %(current)s
                    THEN CASE WHEN f.inspection_id %% 10 = 0 THEN 'submitted' ELSE 'draft' END
                WHEN f.month = %(previous)s
                    THEN CASE WHEN f.inspection_id %% 10 = 0 THEN 'draft'
                              WHEN f.inspection_id %% 10 < 4 THEN 'submitted'
                              ELSE 'reviewed' END
                ELSE 'reviewed' END,
           (f.month || '-01T00:00:00+00:00')::timestamptz
    FROM (SELECT DISTINCT inspection_id, partner_id, month, owner_id FROM channel_line_totals
          WHERE inspection_id BETWEEN %(low)s AND %(high)s) f
    JOIN channel_partners p ON p.partner_id = f.partner_id
    ORDER BY f.inspection_id"""
STORES_SQL = """
    INSERT INTO stores (store_id, owner_id, active, as_of)
    SELECT %(low)s + s, %(low)s + s %% %(owners)s, s %% 25 <> 0, now()
    FROM generate_series(0, %(stores)s - 1) s"""
RAW_VISITS_TABLE_SQL = """
    CREATE UNLOGGED TABLE bench_raw_visits (
        month varchar(7) NOT NULL, user_id bigint NOT NULL, store_id bigint NOT NULL,
        status varchar(16) NOT NULL)"""
# Nine visits in ten to one of the person's own stores; 85% completed, 7% checked in only.
RAW_VISITS_SQL = """
    INSERT INTO bench_raw_visits
    SELECT m.month, %(low)s + v.u,
           %(low)s + CASE WHEN v.own THEN v.u + %(owners)s * v.k ELSE v.s END,
           CASE WHEN v.r < 0.85 THEN 'completed' WHEN v.r < 0.92 THEN 'checked_in'
                ELSE 'planned' END
    FROM (SELECT g, (g * %(months)s / %(visits)s)::int AS mi,
                 floor(%(owners)s * random())::int AS u,
                 floor(%(per_owner)s * random())::int AS k,
                 floor(%(stores)s * random())::int AS s,
                 random() < 0.9 AS own, random() AS r
          FROM generate_series(0::bigint, %(visits)s - 1) g) v
    JOIN bench_months m ON m.idx = v.mi
    ORDER BY v.g"""
RAW_VISITS_INDEX_SQL = "CREATE INDEX ON bench_raw_visits (month, user_id)"
VISIT_TOTALS_SQL = """
    INSERT INTO visit_month_totals (month, user_id, planned, checked_in, completed)
    SELECT month, user_id, count(*), count(*) FILTER (WHERE status <> 'planned'),
           count(*) FILTER (WHERE status = 'completed')
    FROM bench_raw_visits GROUP BY month, user_id ORDER BY month, user_id"""
VISITED_SQL = """
    INSERT INTO visited_stores (month, user_id, store_id)
    SELECT DISTINCT month, user_id, store_id FROM bench_raw_visits
    WHERE status = 'completed' ORDER BY month, user_id, store_id"""
TARGETS_SQL = """
    INSERT INTO visit_targets (month, user_id, target, adjustment, effective_target, as_of)
    SELECT m.month, %(low)s + u, 80, u %% 5 - 2, 78 + u %% 5, now()
    FROM bench_months m CROSS JOIN generate_series(0, %(owners)s - 1) u"""
FRAUD_SQL = """
    INSERT INTO fraud_signal_totals (month, user_id, kind, signals)
    SELECT m.month, %(low)s + u, (%(kinds)s::text[])[1 + u %% 4], 1 + u %% 3
    FROM bench_months m CROSS JOIN generate_series(0, %(owners)s - 1) u WHERE u %% 7 = 0"""
ANALYZE_SQL = ("VACUUM (ANALYZE) channel_line_totals", "VACUUM (ANALYZE) inspection_forms",
               "VACUUM (ANALYZE) channel_partners", "VACUUM (ANALYZE) directory_users",
               "VACUUM (ANALYZE) visit_month_totals", "VACUUM (ANALYZE) visited_stores",
               "VACUUM (ANALYZE) visit_targets", "VACUUM (ANALYZE) fraud_signal_totals",
               "VACUUM (ANALYZE) stores", "VACUUM (ANALYZE) bench_raw_lines",
               "VACUUM (ANALYZE) bench_raw_visits", "VACUUM (ANALYZE) event_archive",
               "VACUUM (ANALYZE) processed_events")
SIZES_SQL = """
    SELECT (SELECT count(*) FROM bench_raw_lines), (SELECT count(*) FROM channel_line_totals),
           (SELECT count(*) FROM inspection_forms), (SELECT count(*) FROM bench_raw_visits),
           (SELECT count(*) FROM visit_month_totals), (SELECT count(*) FROM visited_stores),
           (SELECT count(*) FROM channel_line_totals WHERE month = %(month)s),
           (SELECT count(*) FROM bench_raw_lines WHERE month = %(month)s),
           pg_size_pretty(pg_total_relation_size('bench_raw_lines')),
           pg_size_pretty(pg_total_relation_size('channel_line_totals'))"""

# --- the hand-written baselines over the raw rows (same scope rule: the owner's org path
# starts with the caller's) -----------------------------------------------------------------
RAW_SQL = {
    "partner": """
        SELECT l.partner_id::text, l.product_type, count(*), sum(l.quantity), sum(l.amount)
        FROM bench_raw_lines l JOIN directory_users d ON d.user_id = l.owner_id
        WHERE l.month = %(month)s AND d.org_path LIKE %(prefix)s
        GROUP BY l.partner_id, l.product_type""",
    "owner": """
        SELECT l.owner_id::text, l.product_type, count(*), sum(l.quantity), sum(l.amount)
        FROM bench_raw_lines l JOIN directory_users d ON d.user_id = l.owner_id
        WHERE l.month = %(month)s AND d.org_path LIKE %(prefix)s
        GROUP BY l.owner_id, l.product_type""",
    "hq": """
        SELECT split_part(d.org_path, '/', %(part)s), l.product_type, count(*),
               sum(l.quantity), sum(l.amount)
        FROM bench_raw_lines l JOIN directory_users d ON d.user_id = l.owner_id
        WHERE l.month = %(month)s AND d.org_path LIKE %(prefix)s
        GROUP BY 1, l.product_type""",
}
RAW_VISITS_BASELINE_SQL = """
    SELECT v.user_id, count(*), count(*) FILTER (WHERE v.status <> 'planned'),
           count(*) FILTER (WHERE v.status = 'completed'),
           count(DISTINCT v.store_id) FILTER (WHERE v.status = 'completed')
    FROM bench_raw_visits v JOIN directory_users d ON d.user_id = v.user_id
    WHERE v.month = %(month)s AND d.org_path LIKE %(prefix)s
    GROUP BY v.user_id"""

# --- catching up and lag ---------------------------------------------------------------------
DRAFT_FORMS_SQL = """
    SELECT f.inspection_id, f.partner_id, f.partner_name, p.kind, p.owner_id, f.owner_id,
           d.org_path
    FROM inspection_forms f JOIN channel_partners p ON p.partner_id = f.partner_id
    JOIN directory_users d ON d.user_id = f.owner_id
    WHERE f.month = %(month)s AND f.status = 'draft'
      AND f.inspection_id BETWEEN %(low)s AND %(high)s
    ORDER BY f.inspection_id"""
MONTH_TOTALS_SQL = """
    SELECT coalesce(sum(line_count), 0), coalesce(sum(quantity), 0), coalesce(sum(amount), 0)
    FROM channel_line_totals WHERE month = %(month)s
      AND inspection_id BETWEEN %(low)s AND %(high)s"""
SEEN_SQL = ("SELECT event_id::text, extract(epoch FROM archived_at) FROM event_archive "
            "WHERE event_id = ANY(%(ids)s::uuid[])")
BACKENDS_SQL = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")


# --- small helpers ---------------------------------------------------------------------------
def connect(autocommit: bool = False):
    return common.connect("reporting", autocommit)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def timed(fn, runs: int, warmup: int = WARMUP) -> list[float]:
    """Milliseconds of `runs` sequential calls after `warmup` untimed ones; a slow call
    stops after BUDGET_S seconds (at least MIN_RUNS calls), so the bench stays short."""
    for _ in range(warmup):
        fn()
    out = []
    began = time.perf_counter()
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
        if len(out) >= MIN_RUNS and time.perf_counter() - began > BUDGET_S:
            break
    return out


def months_back(count: int) -> list[str]:
    today = datetime.now(UTC).date()
    out = []
    year, month = today.year, today.month
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process on this machine (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores, from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class CpuWindow:
    """CPU seconds in a window: the reporting process, the database's backends (sampled on
    `tick()` from a connection of its own, so pool connections opened or closed inside the
    window count too) and the whole machine."""

    def __init__(self, stack: Stack):
        self.pids = [stack.processes[name].pid for name in stack.replicas_of("reporting")]
        self.monitor = connect(autocommit=True)
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.ticks = 0

    def tick(self, force: bool = False) -> None:
        self.ticks += 1
        if self.ticks % 10 and not force:
            return
        with self.monitor.cursor() as cur:
            cur.execute(BACKENDS_SQL)
            pids = [pid for (pid,) in cur.fetchall()]
        for pid in pids:
            value = cpu_seconds(pid)
            if value is not None:
                # A backend first seen after the start was opened inside the window.
                self.start.setdefault(pid, 0.0 if self.opened else value)
                self.last[pid] = value

    def _service(self) -> float:
        return sum(cpu_seconds(pid) or 0.0 for pid in self.pids)

    def __enter__(self):
        self.service = self._service()
        self.machine = machine_busy()
        self.began = time.perf_counter()
        self.opened = False
        self.tick(force=True)
        self.opened = True
        return self

    def __exit__(self, *exc):
        self.tick(force=True)
        self.service = self._service() - self.service
        self.machine = machine_busy() - self.machine
        self.wall = time.perf_counter() - self.began
        self.db = sum(self.last[pid] - self.start[pid] for pid in self.last)
        self.monitor.close()

    def describe(self) -> str:
        return (f"CPU in {self.wall:.1f} s: reporting {self.service:.1f} s, its PostgreSQL "
                f"backends {self.db:.1f} s, whole machine {self.machine:.1f} s of "
                f"{self.wall * (os.cpu_count() or 1):.1f} s")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


# --- setup -----------------------------------------------------------------------------------
def make_org(api: httpx.Client, admin: dict, run_id: str) -> dict:
    from crmkit.context import Caller
    hq = expect(api.get("/org-units/1", headers=admin), 200)
    regions = []
    for r in range(REGIONS):
        unit = expect(api.post("/org-units", headers=admin, json={
            "name": f"基准{r + 1}大区-{run_id}", "kind": "region", "parent_id": hq["id"]}), 201)
        centers = [expect(api.post("/org-units", headers=admin, json={
            "name": f"基准{r + 1}大区品牌中心{c + 1}-{run_id}", "kind": "center",
            "parent_id": unit["id"]}), 201) for c in range(CENTERS)]
        regions.append({"unit": unit, "centers": centers})
    people = {}
    for key, role, unit in (("manager", "region_manager", regions[0]["unit"]),
                            ("vp", "vp", hq)):
        user = expect(api.post("/users", headers=admin, json={
            "username": f"bench-{key}-{run_id}", "password": PASSWORD,
            "display_name": f"基准{key}", "roles": [role], "org_unit_id": unit["id"],
            "manager_id": 1}), 201)
        people[key] = {"user": user, "caller": Caller(
            user_id=user["id"], roles=frozenset([role]), org_unit_id=unit["id"],
            org_path=unit["path"])}
    return {"hq": hq, "regions": regions, **people}


def wait_for_copies(cur, org: dict) -> float:
    """Until reporting's directory and org unit copies hold what accounts published."""
    units = [org["hq"]["id"]] + [u["id"] for r in org["regions"]
                                 for u in [r["unit"], *r["centers"]]]
    users = [org["manager"]["user"]["id"], org["vp"]["user"]["id"]]
    started = time.perf_counter()
    while True:
        cur.execute("SELECT count(*) FROM org_units WHERE id = ANY(%s)", (units,))
        got_units = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM directory_users WHERE user_id = ANY(%s)", (users,))
        got_users = cur.fetchone()[0]
        if got_units >= len(units) - 1 and got_users == len(users):
            return time.perf_counter() - started
        if time.perf_counter() - started > 60:
            raise RuntimeError(f"reporting's copies: {got_units}/{len(units)} units, "
                               f"{got_users}/{len(users)} users after 60 s")
        time.sleep(0.2)


def owner_rows(org: dict) -> list[tuple]:
    rows = []
    manager_id = org["manager"]["user"]["id"]
    for j in range(OWNERS):
        r, c = j % REGIONS, (j // REGIONS) % CENTERS
        center = org["regions"][r]["centers"][c]
        rows.append((BASE + j, f"渠道负责人{j + 1:04d}", center["id"], center["path"],
                     manager_id if r == 0 else None))
    return rows


def partner_rows() -> list[tuple]:
    rnd = random.Random(8)
    rows = []
    for p in range(PARTNERS):
        share = None if p % 10 == 9 else Decimal(rnd.randint(500, 6000)) / 100
        rows.append((BASE + p, f"{rnd.choice(CITIES)}{rnd.choice(TRADES)}"
                     f"{rnd.choice(SHOPS)}{p % 97 + 1}号", PARTNER_KINDS[p % len(PARTNER_KINDS)],
                     BASE + p % OWNERS, share))
    return rows


def seed(conn, org: dict, months: list[str]) -> dict:
    from psycopg2.extras import execute_values
    stores = OWNERS * STORES_PER_OWNER
    p = {"low": BASE, "high": BASE + SPAN - 1, "partners": PARTNERS, "months": MONTHS,
         "lines": LINES, "types": len(PRODUCT_TYPES), "owners": OWNERS, "stores": stores,
         "visits": VISITS, "per_owner": STORES_PER_OWNER, "current": months[-1],
         "previous": months[-2], "kinds": list(FRAUD_KINDS)}
    steps = {}

    def step(name, *statements, params=p):
        started = time.perf_counter()
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement, params)
        conn.commit()
        steps[name] = time.perf_counter() - started

    step("clean", *CLEAN_SQL)
    with conn.cursor() as cur:
        for statement in SESSION_SQL + HELPERS_SQL:
            cur.execute(statement)
        execute_values(cur, "INSERT INTO bench_months VALUES %s", list(enumerate(months)))
        execute_values(cur, "INSERT INTO bench_types VALUES %s",
                       [(i, n, Decimal(price)) for i, (n, price) in enumerate(PRODUCT_TYPES)])
        execute_values(cur, USERS_SQL, owner_rows(org), template=USERS_TEMPLATE,
                       page_size=1000)
        execute_values(cur, PARTNERS_SQL, partner_rows(), template=PARTNERS_TEMPLATE,
                       page_size=1000)
        cur.execute("SELECT setseed(0.42)")
    conn.commit()
    step("raw lines", RAW_LINES_TABLE_SQL, RAW_LINES_SQL)
    step("raw lines index", RAW_LINES_INDEX_SQL)
    step("channel_line_totals + inspection_forms", TOTALS_SQL, FORMS_SQL)
    step("raw visits", RAW_VISITS_TABLE_SQL, RAW_VISITS_SQL, RAW_VISITS_INDEX_SQL)
    step("visit read models", STORES_SQL, VISIT_TOTALS_SQL, VISITED_SQL, TARGETS_SQL,
         FRAUD_SQL)
    conn.autocommit = True
    step("vacuum analyze", *ANALYZE_SQL)
    conn.autocommit = False
    return steps


# --- the reports -----------------------------------------------------------------------------
def rpc_proxy(caller):
    from nameko.standalone.rpc import ServiceRpcProxy

    from crmkit.settings import bus_settings
    context = {k: v for k, v in caller.to_context_data().items() if v is not None}
    return ServiceRpcProxy("reporting", bus_settings().nameko_config(),
                           context_data=context, timeout=120)


def report_cells(report: dict) -> dict:
    """(key, product type) -> (lines, quantity, amount) of a JSON channel report."""
    return {(str(row["key"]), cell["product_type"]):
            (cell["line_count"], cell["quantity"], cell["amount"])
            for row in report["rows"] for cell in row["by_product_type"]}


def baseline_params(caller, month: str) -> dict:
    from crmkit.scope import path_ids
    return {"month": month, "prefix": caller.org_path + "%",
            "part": len(path_ids(caller.org_path)) + 2}


def baseline_cells(rows, group_by: str, caller) -> dict:
    cells = {}
    for key, product_type, lines, quantity, amount in rows:
        if group_by == "hq" and not key:
            key = caller.org_unit_id
        cells[(str(key), product_type)] = (int(lines), int(quantity), f"{amount:.2f}")
    return cells


def run_baseline(cur, sql: str, params: dict) -> tuple[list[float], list]:
    """Medians with the server's settings and with jit off; the faster one counts."""
    best, rows = None, None
    for jit in ("on", "off"):
        cur.execute("SELECT set_config('jit', %s, false)", (jit,))
        times = []
        for attempt in range(BASELINE_RUNS + 1):
            started = time.perf_counter()
            cur.execute(sql, params)
            rows = cur.fetchall()
            if attempt:  # the first run warms the cache
                times.append((time.perf_counter() - started) * 1000)
        if best is None or statistics.median(times) < statistics.median(best[0]):
            best = (times, jit)
    cur.execute("RESET jit")
    return best, rows


def measure_channels(stack: Stack, conn, org: dict, month: str, tokens: dict) -> dict:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from crmkit.settings import database_settings
    from reporting import channel_report
    engine = create_engine(database_settings("reporting").url, pool_size=1)
    results = {}
    with rpc_proxy(org["vp"]["caller"]) as proxy:
        floor = timed(proxy.health, RUNS)
    results["floor"] = floor
    print(f"  RPC floor (reporting.health) p50 {statistics.median(floor):.1f} ms p95 "
          f"{pct(floor, 95):.1f} (n={len(floor)})", flush=True)
    with httpx.Client(base_url=f"{stack.url}/api/v1", timeout=120) as api, \
            conn.cursor() as cur:
        for who in ("manager", "vp"):
            caller = org[who]["caller"]
            with rpc_proxy(caller) as proxy:
                for group_by in GROUPS:
                    query = {"month": month, "group_by": group_by, "format": "json"}
                    report = proxy.channel_report(query=query)
                    rpc = timed(lambda q=query, px=proxy: px.channel_report(query=q), RUNS)

                    def gateway(q=query, h=tokens[who]):
                        expect(api.get("/reports/channels", params=q, headers=h), 200)
                    gw = timed(gateway, RUNS)

                    def in_process(g=group_by, c=caller):
                        with Session(engine) as session:
                            channel_report.build(session, c, month, g)
                    local = timed(in_process, IN_PROCESS_RUNS)
                    (raw, jit), rows = run_baseline(cur, RAW_SQL[group_by],
                                                    baseline_params(caller, month))
                    ours, theirs = report_cells(report), baseline_cells(rows, group_by, caller)
                    body = json.dumps(report, ensure_ascii=False).encode()
                    # What any JSON client pays before it holds the report, however fast
                    # the server: parsing the answer (a lower bound of the RPC).
                    decode = timed(lambda b=body: json.loads(b), RUNS)
                    results[(who, group_by)] = {
                        "rpc": rpc, "gateway": gw, "local": local, "raw": raw, "jit": jit,
                        "decode": decode,
                        "rows": len(report["rows"]), "cells": len(ours),
                        "bytes": len(body), "match": ours == theirs,
                        "lines": report["totals"]["line_count"],
                        "amount": report["totals"]["amount"]}
                    r = results[(who, group_by)]
                    print(f"  {who:7} {group_by:7} rpc p50 {statistics.median(rpc):7.1f} ms "
                          f"p95 {pct(rpc, 95):7.1f} (n={len(rpc)}) | gateway p50 "
                          f"{statistics.median(gw):7.1f} p95 {pct(gw, 95):7.1f} (n={len(gw)}) "
                          f"| in process p50 "
                          f"{statistics.median(local):7.1f} | raw GROUP BY p50 "
                          f"{statistics.median(raw):7.1f} (jit {jit}) | json.loads of the "
                          f"answer alone p50 {statistics.median(decode):6.1f} | {r['rows']} rows, "
                          f"{r['cells']} cells, {r['bytes'] / 1024:.0f} KiB; "
                          f"{r['lines']:,} lines; figures "
                          f"{'match' if r['match'] else 'DIFFER'}", flush=True)
    engine.dispose()
    return results


def measure_visits(conn, org: dict, month: str) -> dict:
    results = {}
    with conn.cursor() as cur:
        for who in ("manager", "vp"):
            caller = org[who]["caller"]
            with rpc_proxy(caller) as proxy:
                query = {"month": month, "format": "json"}
                report = proxy.visit_report(query=query)
                rpc = timed(lambda px=proxy, q=query: px.visit_report(query=q), RUNS)
            (raw, jit), rows = run_baseline(cur, RAW_VISITS_BASELINE_SQL,
                                            baseline_params(caller, month))
            raw_totals = [sum(int(r[i]) for r in rows) for i in range(1, 5)]
            t = report["totals"]
            ours = [t["planned"], t["checked_in"], t["completed"], t["stores_visited"]]
            results[who] = {"rpc": rpc, "raw": raw, "jit": jit, "rows": len(report["rows"]),
                            "match": ours == raw_totals, "planned": t["planned"]}
            print(f"  {who:7} visits  rpc p50 {statistics.median(rpc):7.1f} ms p95 "
                  f"{pct(rpc, 95):7.1f} | raw GROUP BY p50 {statistics.median(raw):7.1f} "
                  f"(jit {jit}) | {len(report['rows'])} people, {t['planned']:,} visits "
                  f"planned; totals {'match' if ours == raw_totals else 'DIFFER'}",
                  flush=True)
    return results


# --- new facts through the consumer ----------------------------------------------------------
def draft_forms(cur, month: str) -> list[tuple]:
    cur.execute(DRAFT_FORMS_SQL, {"month": month, "low": BASE, "high": BASE + SPAN - 1})
    return cur.fetchall()


def line_event(form: tuple, month: str, rnd: random.Random, line_id: int) -> dict:
    """An `inspection_line_added` envelope as channels' relay publishes it."""
    inspection_id, partner_id, partner_name, kind, partner_owner, owner_id, path = form
    name, price = PRODUCT_TYPES[min(int(len(PRODUCT_TYPES) * rnd.random() ** 1.8),
                                    len(PRODUCT_TYPES) - 1)]
    quantity = 1 + int(12 * rnd.random() ** 3)
    amount = (quantity * Decimal(price) * Decimal(str(0.85 + 0.3 * rnd.random()))) \
        .quantize(Decimal("0.01"))
    now = datetime.now(UTC).isoformat()
    return {
        "event_id": str(uuid.uuid4()), "type": "inspection_line_added", "version": 1,
        "occurred_at": now,
        "actor": {"user_id": owner_id, "roles": ["channel_owner"], "org_path": path,
                  "partner_id": None},
        "data": {"inspection_id": inspection_id, "partner_id": partner_id,
                 "partner_name": partner_name, "partner_kind": kind,
                 "partner_owner_id": partner_owner, "month": month, "owner_id": owner_id,
                 "status": "draft",
                 "line": {"id": line_id, "inspection_id": inspection_id,
                          "customer_name": f"终端用户{line_id % 100000}",
                          "store_id": BASE + owner_id % OWNERS, "product_type": name,
                          "quantity": quantity, "amount": f"{amount:.2f}",
                          "created_by": owner_id, "created_at": now}},
    }


def month_totals(cur, month: str) -> tuple[int, int, Decimal]:
    cur.execute(MONTH_TOTALS_SQL, {"month": month, "low": BASE, "high": BASE + SPAN - 1})
    lines, quantity, amount = cur.fetchone()
    return int(lines), int(quantity), Decimal(amount)


def added_since(cur, month: str, before: tuple) -> tuple[int, int, Decimal]:
    """Lines, quantity and amount the month gained since `before` (its month_totals)."""
    return tuple(a - b for a, b in zip(month_totals(cur, month), before, strict=True))


def sums(events: list[dict]) -> tuple[int, int, Decimal]:
    return (len(events), sum(e["data"]["line"]["quantity"] for e in events),
            sum((Decimal(e["data"]["line"]["amount"]) for e in events), Decimal(0)))


LINE_QUEUE = "evt-channels-inspection_line_added--reporting.on_inspection_line_added"


def day_of_lines(month: str, forms: list[tuple], seed: int) -> tuple[list, tuple]:
    """One day of `inspection_line_added` envelopes, JSON-encoded before any clock starts
    (channels' relay encodes them when it publishes, not the consumer), and their sums."""
    rnd = random.Random(seed)
    line_base = BASE + int(time.time()) % 1_000_000 * 100 + seed * DAY_EVENTS
    events = [line_event(rnd.choice(forms), month, rnd, line_base + i)
              for i in range(DAY_EVENTS)]
    bodies = [(json.dumps(env).encode(), env["type"], env["event_id"]) for env in events]
    return bodies, sums(events)


def publish_all(amqp, bodies: list) -> None:
    """As fast as one connection goes, without publisher confirms."""
    from kombu import Producer
    from nameko.standalone.events import get_event_exchange
    producer = Producer(amqp.channel(), exchange=get_event_exchange("channels", {}))
    for body, routing_key, event_id in bodies:
        producer.publish(body, routing_key=routing_key, content_type="application/json",
                         content_encoding="utf-8", delivery_mode=2, message_id=event_id)


def wait_applied(stack: Stack, cur, month: str, target: int, started: float,
                 cpu: "CpuWindow") -> float:
    """Poll the month's line count until it reaches `target`; seconds since `started`."""
    def lines() -> int:
        cpu.tick()
        return month_totals(cur, month)[0]
    return wait_for_count(stack, lines, target, "lines", started, DRAIN_DEADLINE_S,
                          CATCH_UP_POLL_S)


def catch_up(stack: Stack, conn, month: str, forms: list[tuple]) -> dict:
    """The day published while the consumer runs: publishing and consuming share the
    machine, and the publisher alone is ~3,000 events/s here."""
    from kombu import Connection

    from crmkit.settings import bus_settings
    bodies, expected = day_of_lines(month, forms, seed=1)
    with conn.cursor() as cur:
        before = month_totals(cur, month)
        with Connection(bus_settings().amqp_uri,
                        transport_options={"confirm_publish": False}) as amqp:
            with CpuWindow(stack) as cpu:
                started = time.perf_counter()
                publish_all(amqp, bodies)
                published = time.perf_counter() - started
                total = wait_applied(stack, cur, month, before[0] + expected[0], started, cpu)
        added = added_since(cur, month, before)
    return {"events": len(bodies), "published": published, "total": total,
            "ok": added == expected, "added": added, "expected": expected, "cpu": cpu}


def _line_queue(amqp) -> tuple[int, int]:
    """(messages ready, consumers) of reporting's line queue, by a passive declare."""
    _, messages, consumers = amqp.default_channel.queue_declare(LINE_QUEUE, passive=True)
    return messages, consumers


def drain_backlog(stack: Stack, conn, month: str, forms: list[tuple]) -> dict:
    """The day already queued when reporting starts (it was stopped, or fell behind):
    every reporting process is stopped, the day published and routed into its queue (not
    timed), the processes started again; timed from the moment the queue has a consumer
    until the last line is applied."""
    from kombu import Connection

    from crmkit.settings import bus_settings
    bodies, expected = day_of_lines(month, forms, seed=2)
    names = stack.replicas_of("reporting")
    with conn.cursor() as cur, Connection(
            bus_settings().amqp_uri, transport_options={"confirm_publish": False}) as amqp:
        before = month_totals(cur, month)
        for name in names:
            stack.kill(name)
        queued_before = _line_queue(amqp)[0]
        publish_all(amqp, bodies)
        deadline = time.monotonic() + 60
        while _line_queue(amqp)[0] < queued_before + len(bodies):
            if time.monotonic() > deadline:
                raise RuntimeError("the backlog did not reach reporting's queue")
            time.sleep(0.05)
        for name in names:
            stack.respawn(name)
        while _line_queue(amqp)[1] == 0:  # the processes are importing and connecting
            stack.check_alive()
            time.sleep(0.01)
        with CpuWindow(stack) as cpu:
            started = time.perf_counter()
            total = wait_applied(stack, cur, month, before[0] + expected[0], started, cpu)
        added = added_since(cur, month, before)
    return {"events": len(bodies), "total": total, "ok": added == expected,
            "added": added, "expected": expected, "cpu": cpu}


def lag(stack: Stack, conn, month: str, forms: list[tuple]) -> dict:
    from crmkit.outbox import EventPublisher
    from crmkit.settings import bus_settings
    rnd = random.Random(2)
    count = int(LAG_RATE * LAG_SECONDS)
    line_base = BASE + int(time.time()) % 1_000_000 * 100 + 50
    events = [line_event(rnd.choice(forms), month, rnd, line_base + i) for i in range(count)]
    sent: dict[str, tuple[float, float]] = {}
    lock = threading.Lock()
    publisher = EventPublisher(bus_settings().amqp_uri, "channels")
    failure: list[BaseException] = []

    def publish_all():
        try:
            start = time.perf_counter()
            for i, env in enumerate(events):
                delay = start + i / LAG_RATE - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                env["occurred_at"] = datetime.now(UTC).isoformat()
                with lock:
                    sent[env["event_id"]] = (time.perf_counter(), time.time())
                publisher.publish(env, None)
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            failure.append(exc)
        finally:
            publisher.close()

    seen: dict[str, tuple[float, float]] = {}
    with conn.cursor() as cur:
        # One event first, untimed, so the publisher's connection is open; the totals are
        # read once it is applied.
        warm = line_event(forms[0], month, rnd, line_base - 1)
        publisher.publish(warm, None)
        deadline = time.perf_counter() + 30
        while True:
            cur.execute(SEEN_SQL, {"ids": [warm["event_id"]]})
            if cur.fetchall():
                break
            if time.perf_counter() > deadline:
                raise RuntimeError("the warm-up event was not applied within 30 s")
            time.sleep(LAG_POLL_S)
        before = month_totals(cur, month)
        with CpuWindow(stack) as cpu:
            thread = threading.Thread(target=publish_all, daemon=True)
            started = time.perf_counter()
            thread.start()
            polls = 0
            while len(seen) < count:
                with lock:
                    pending = [e for e in sent if e not in seen]
                if pending:
                    polled = time.perf_counter()
                    cur.execute(SEEN_SQL, {"ids": pending})
                    for event_id, archived_at in cur.fetchall():
                        seen[event_id] = (polled, float(archived_at))
                polls += 1
                cpu.tick()
                if failure:
                    raise RuntimeError(f"publishing failed: {failure[0]!r}")
                if time.perf_counter() - started > LAG_SECONDS + DRAIN_DEADLINE_S:
                    raise RuntimeError(f"{len(seen)}/{count} events visible")
                if polls % 200 == 0:
                    stack.check_alive()
                time.sleep(LAG_POLL_S)
            thread.join()
            publishing = max(t for t, _ in sent.values()) - min(t for t, _ in sent.values())
            total = time.perf_counter() - started
        added = added_since(cur, month, before)
    lags = [(seen[e][0] - sent[e][0]) * 1000 for e in sent]
    to_tx = [(seen[e][1] - sent[e][1]) * 1000 for e in sent]
    expected = sums(events)
    return {"count": count, "rate": (count - 1) / publishing if publishing else 0.0,
            "lags": lags, "to_tx": to_tx, "total": total, "polls": polls,
            "added": added, "expected": expected, "cpu": cpu}


# --- main ------------------------------------------------------------------------------------
def main():
    os.environ["CRM_DB_PREFIX"] = "crmbench"
    env = dict(os.environ, CRM_ACCESS_LOG="false", CRM_LOG_LEVEL="WARNING")
    stack = Stack(env=env, log_dir=ROOT / ".run" / "bench-logs", gateway_port=free_port())
    run_id = uuid.uuid4().hex[:6]
    months = months_back(MONTHS)
    report_month, current = months[-2], months[-1]
    conn = None
    try:
        started = time.perf_counter()
        stack.start()
        print(f"Stack up in {time.perf_counter() - started:.1f} s (not timed); "
              f"{os.cpu_count()} cores shared by everything; {stack.replicas} process(es) per "
              "service (CRM_REPLICAS)", flush=True)
        with httpx.Client(base_url=f"{stack.url}/api/v1", timeout=60) as api:
            admin = login(api, "admin", stack.env["CRM_BOOTSTRAP_ADMIN_PASSWORD"])
            org = make_org(api, admin, run_id)
        conn = connect()
        with conn.cursor() as cur:
            copied = wait_for_copies(cur, org)
        conn.commit()
        print(f"Org: {REGIONS} regions x {CENTERS} centres under HQ {org['hq']['path']}; "
              f"region manager {org['manager']['user']['id']} at "
              f"{org['manager']['caller'].org_path}, VP {org['vp']['user']['id']} at "
              f"{org['vp']['caller'].org_path}; reporting's copies caught up in "
              f"{copied:.1f} s", flush=True)

        started = time.perf_counter()
        steps = seed(conn, org, months)
        with conn.cursor() as cur:
            cur.execute(SIZES_SQL, {"month": report_month})
            (raw_lines, totals_rows, forms_rows, raw_visits, visit_rows, visited_rows,
             month_cells, month_lines, raw_size, totals_size) = cur.fetchone()
        conn.commit()
        print(f"Seeded in {time.perf_counter() - started:.0f} s ("
              + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) + ")")
        print(f"  {raw_lines:,} raw lines ({raw_size}) -> {totals_rows:,} channel_line_totals "
              f"rows ({totals_size}), {forms_rows:,} forms, {PARTNERS:,} partners, "
              f"{OWNERS:,} owners, {len(PRODUCT_TYPES)} product types, months {months[0]}.."
              f"{months[-1]}")
        print(f"  month {report_month}: {month_lines:,} raw lines -> {month_cells:,} "
              f"read-model rows ({month_lines / max(month_cells, 1):.1f} lines per row)")
        print(f"  {raw_visits:,} raw visits -> {visit_rows:,} visit_month_totals rows, "
              f"{visited_rows:,} visited_stores rows", flush=True)

        with httpx.Client(base_url=f"{stack.url}/api/v1", timeout=60) as api:
            tokens = {who: login(api, org[who]["user"]["username"], PASSWORD)
                      for who in ("manager", "vp")}
        print(f"Channel report {report_month}, {RUNS} sequential calls each after {WARMUP} "
              f"warm-up (in process: {IN_PROCESS_RUNS}); raw GROUP BY: median of "
              f"{BASELINE_RUNS}, faster of jit on/off:", flush=True)
        channels = measure_channels(stack, conn, org, report_month, tokens)
        print(f"Visit report {report_month}:", flush=True)
        visits = measure_visits(conn, org, report_month)

        with conn.cursor() as cur:
            forms = draft_forms(cur, current)
        conn.commit()
        print(f"Catching up one day: {DAY_EVENTS:,} inspection_line_added events on "
              f"{len(forms):,} draft forms of {current}, published without confirms:",
              flush=True)
        day = catch_up(stack, conn, current, forms)
        conn.commit()
        print(f"  published in {day['published']:.2f} s "
              f"({day['events'] / day['published']:,.0f}/s); all {day['events']:,} applied "
              f"after {day['total']:.2f} s ({day['events'] / day['total']:,.0f} events/s; "
              f"{day['total'] - day['published']:.2f} s after the last publish); "
              f"{day['cpu'].describe()}; totals {'match' if day['ok'] else 'DIFFER'} "
              f"(+{day['added'][0]:,} lines, +{day['added'][1]:,} units, "
              f"+{day['added'][2]:,} amount)", flush=True)
        print(f"Catching up a backlog: reporting stopped, another {DAY_EVENTS:,} events "
              "queued, reporting started; timed from its first consumer on the queue:",
              flush=True)
        backlog = drain_backlog(stack, conn, current, forms)
        conn.commit()
        print(f"  all {backlog['events']:,} applied after {backlog['total']:.2f} s "
              f"({backlog['events'] / backlog['total']:,.0f} events/s); "
              f"{backlog['cpu'].describe()}; totals "
              f"{'match' if backlog['ok'] else 'DIFFER'}", flush=True)

        print(f"Lag at {LAG_RATE:.0f} events/s for {LAG_SECONDS:.0f} s (publisher with "
              "confirms, visible = event_archive row committed):", flush=True)
        lagged = lag(stack, conn, current, forms)
        conn.commit()
        lags, to_tx = lagged["lags"], lagged["to_tx"]
        lag_ok = lagged["added"] == lagged["expected"]
        print(f"  {lagged['count']:,} events at {lagged['rate']:.0f}/s; event -> visible p50 "
              f"{statistics.median(lags):.0f} ms, p95 {pct(lags, 95):.0f} ms, p99 "
              f"{pct(lags, 99):.0f} ms, max {max(lags):.0f} ms; (send -> consumer's "
              f"transaction began p50 {statistics.median(to_tx):.0f} ms, p99 "
              f"{pct(to_tx, 99):.0f} ms); {lagged['cpu'].describe()}; lines "
              f"{'match' if lag_ok else 'DIFFER'}", flush=True)

        summary(channels, visits, day, backlog, lags)
        ok = all(r["match"] for k, r in channels.items() if k != "floor") and all(
            r["match"] for r in visits.values()) and day["ok"] and backlog["ok"] and lag_ok
        if not ok:
            raise SystemExit("a check FAILED")
    except Exception:
        for log in sorted(stack.log_dir.glob("reporting*.log")):
            print(f"--- tail of {log}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        if conn is not None:
            conn.rollback()
            if not KEEP:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("DROP TABLE IF EXISTS bench_raw_lines")
                    cur.execute("DROP TABLE IF EXISTS bench_raw_visits")
            conn.close()
        stack.stop()


def summary(channels: dict, visits: dict, day: dict, backlog: dict,
            lags: list[float]) -> None:
    print(f"Summary ({date.today()}):")
    floor = channels.pop("floor")
    print(f"  RPC floor (health): p50 {statistics.median(floor):.1f} ms")
    for (who, group_by), r in channels.items():
        rpc, raw = statistics.median(r["rpc"]), statistics.median(r["raw"])
        local = statistics.median(r["local"])
        limit = TARGET_REGION_MS if who == "manager" else TARGET_COMPANY_MS
        print(f"  {'region ' if who == 'manager' else 'company'} {group_by:7}: rpc p50 "
              f"{rpc:6.1f} ms (< {limit} ms: {verdict(rpc < limit)}), p95 "
              f"{pct(r['rpc'], 95):6.1f}; raw/rpc {raw / rpc:5.1f}x, raw/in-process "
              f"{raw / local:5.1f}x (>= {TARGET_RATIO}x: {verdict(raw / rpc >= TARGET_RATIO)})")
        decode = statistics.median(r["decode"])
        if raw / decode < TARGET_RATIO:
            print(f"{'':19}out of reach for a JSON answer: parsing it alone takes "
                  f"{decode:.1f} ms, raw/parse {raw / decode:.1f}x")
    for who, r in visits.items():
        rpc, raw = statistics.median(r["rpc"]), statistics.median(r["raw"])
        print(f"  {'region ' if who == 'manager' else 'company'} visits : rpc p50 {rpc:6.1f}"
              f" ms; raw/rpc {raw / rpc:5.1f}x")
    print(f"  one day ({backlog['events']:,} events) queued, caught up in "
          f"{backlog['total']:.2f} s (< {TARGET_CATCH_UP_S} s: "
          f"{verdict(backlog['total'] < TARGET_CATCH_UP_S)}); published and consumed at "
          f"once: {day['total']:.2f} s")
    print(f"  lag at {LAG_RATE:.0f}/s: p99 {pct(lags, 99):.0f} ms (freshness goal 2 s: "
          f"{verdict(pct(lags, 99) < 2000)})")


if __name__ == "__main__":
    main()
