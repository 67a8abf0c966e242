"""The monthly inspection push to 20,000 channel owners (BENCH_OWNERS overrides), through the
running notifications service: the time until every owner's inbox holds its notice, and the
rate against a bare bulk INSERT of the same rows in the same run.

How t0 is made honest: the stack is brought up step by step. After the migrations and
before any service runs, the owners go straight into crmbench_notifications (the
directory read copy `directory_users`, ids 10,000,000 + i so they never meet real users,
locales alternating zh-CN / en) with one draft form each of the current month (Asia/Shanghai)
in the `inspection_copies` read copy, and the month's `scheduled_runs` row of
`inspection_push` is inserted as if the push had already run. The services then start
(CRM_SCHEDULER_TICK_S=1, CRM_INSPECTION_PUSH_DAY=1 so today is past the push day) and their
timer ticks without pushing. t0 is the DELETE of that row: from its commit the next tick of
`fire_schedules` (<= 1 s later) claims the month and runs `push_open_inspections`. So the
timed window holds the scheduler's own tick latency plus the push, and none of the
processes' start-up. It ends when a separate connection, polling every 100 ms, counts N
committed `inspection_push` notices of the bench owners (the push is one transaction, so
the count jumps from 0 to N at its commit).

Server-side view: `scheduled_runs.ran_at` is now() of the push's transaction (when the tick
began), against the server clock at the DELETE and at the first poll that saw N rows; CPU
seconds used in the window by the notifications process and by its PostgreSQL backends
(read from /proc, when PostgreSQL runs on this machine) say where the time went.

Checked: exactly N notices, one per owner, each for its own form, titles in the owner's
language (zh-CN and en counted apart).

Baseline in the same run: the same N rows (same columns, titles and bodies rendered by the
same templates, same data, event ids) into a scratch copy of the table (`LIKE notifications
INCLUDING ALL`, its id given its own identity) with psycopg2's execute_values, pages of 1000,
one transaction, commit included; best of 3; the table is dropped.

Target: the push end to end < 30 s.

Run: .venv/bin/python bench/notifications.py   (starts its own stack on databases crmbench_*)
"""
import importlib.util
import os
import random
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# This file is named like the service's package: keep bench/ off the import path, so that
# `notifications` below is the service.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT / "deploy"))
# bench/ itself is off the path (this file would shadow a service package), so the
# shared helpers load by file.
_spec = importlib.util.spec_from_file_location("bench_common", HERE / "common.py")
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)
from local_stack import Stack, ensure_infrastructure, free_port  # noqa: E402

OWNERS = int(os.environ.get("BENCH_OWNERS", "20000"))
BASE_ID = 10_000_000
ID_SPAN = 10_000_000  # bench ids are BASE_ID .. BASE_ID + ID_SPAN - 1
TIME_ZONE = os.environ.get("CRM_DEFAULT_TIME_ZONE", "Asia/Shanghai")
POLL_SECONDS = 0.1
DEADLINE_SECONDS = 600
TARGET_SECONDS = 30.0
BASELINE_TRIES = 3
PAGE_SIZE = 1000
JOB = "inspection_push"
TITLE_ZH = "请填写本月渠道点检单"
TITLE_EN = "Fill in this month's inspection form"

CITIES = ["深圳", "广州", "厦门", "北京", "济南", "上海", "杭州", "南京", "武汉", "成都",
          "西安", "沈阳", "重庆", "长沙", "郑州", "青岛"]
TRADES = ["华新", "达盛", "恒瑞", "丰利", "鑫隆", "宏信", "博德", "安康", "汇联", "星辉",
          "永佳", "凯宇", "腾飞", "嘉诚", "鼎晟", "润锦"]
KINDS = ["数码专营店", "通讯连锁", "电器商行", "手机卖场", "授权体验店"]

CLEAN_SQL = (
    "DELETE FROM notifications WHERE user_id >= %(low)s AND user_id < %(high)s",
    "DELETE FROM inspection_copies WHERE inspection_id >= %(low)s AND inspection_id < %(high)s",
    "DELETE FROM directory_users WHERE user_id >= %(low)s AND user_id < %(high)s",
    "DELETE FROM scheduled_runs WHERE job = %(job)s AND period = %(month)s",
)
VACUUM_SQL = ("VACUUM (ANALYZE) notifications", "VACUUM (ANALYZE) inspection_copies",
              "VACUUM (ANALYZE) directory_users")
USERS_SQL = ("INSERT INTO directory_users (user_id, display_name, org_unit_id, org_path, "
             "manager_id, roles, active, locale, as_of) VALUES %s")
USERS_TEMPLATE = "(%s, %s, 1, '/1/', NULL, '{channel_owner}', true, %s, now())"
FORMS_SQL = ("INSERT INTO inspection_copies (inspection_id, owner_id, partner_name, month, "
             "status) VALUES %s")
FORMS_TEMPLATE = "(%s, %s, %s, %s, 'draft')"
ALREADY_RAN_SQL = ("INSERT INTO scheduled_runs (job, period, notices) "
                   "VALUES (%(job)s, %(month)s, 0)")
OTHER_FORMS_SQL = ("SELECT count(*) FROM inspection_copies WHERE month = %(month)s "
                   "AND status = 'draft' AND NOT (inspection_id >= %(low)s "
                   "AND inspection_id < %(high)s)")
TRIGGER_SQL = ("DELETE FROM scheduled_runs WHERE job = %(job)s AND period = %(month)s "
               "RETURNING clock_timestamp()")
COUNT_SQL = ("SELECT count(*), clock_timestamp() FROM notifications WHERE kind = %(job)s "
             "AND user_id >= %(low)s AND user_id < %(high)s")
RUN_SQL = "SELECT ran_at, notices FROM scheduled_runs WHERE job = %(job)s AND period = %(month)s"
CHECK_SQL = """
    SELECT count(*), count(DISTINCT n.user_id),
           count(*) FILTER (WHERE n.title = %(zh)s AND d.locale = 'zh-CN'),
           count(*) FILTER (WHERE n.title = %(en)s AND d.locale = 'en'),
           count(*) FILTER (WHERE n.related_resource = 'inspection' AND c.owner_id = n.user_id
                            AND n.event_id = 'push-' || c.month || '-' || c.inspection_id
                            AND n.data ->> 'month' = c.month
                            AND n.data ->> 'partner_name' = c.partner_name),
           min(n.created_at), max(n.created_at)
    FROM notifications n
    JOIN directory_users d ON d.user_id = n.user_id
    LEFT JOIN inspection_copies c ON c.inspection_id = n.related_id
    WHERE n.kind = %(job)s AND n.user_id >= %(low)s AND n.user_id < %(high)s"""
BACKENDS_SQL = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")
COPY_TABLE_SQL = "CREATE TABLE bench_notifications_copy (LIKE notifications INCLUDING ALL)"
# LIKE copies the default nextval() of notifications' own sequence: give the copy its own.
COPY_IDENTITY_SQL = ("ALTER TABLE bench_notifications_copy ALTER COLUMN id DROP DEFAULT, "
                     "ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
COPY_INSERT_SQL = ("INSERT INTO bench_notifications_copy (user_id, kind, title, body, "
                   "related_resource, related_id, data, event_id) VALUES %s")
COPY_TEMPLATE = "(%s, %s, %s, %s, %s, %s, %s::jsonb, %s)"
COPY_COUNT_SQL = "SELECT count(*) FROM bench_notifications_copy"
COPY_TRUNCATE_SQL = "TRUNCATE bench_notifications_copy"
COPY_DROP_SQL = "DROP TABLE IF EXISTS bench_notifications_copy"


def connect(autocommit: bool = False):
    return common.connect("notifications", autocommit)


def params(month: str) -> dict:
    return {"low": BASE_ID, "high": BASE_ID + ID_SPAN, "job": JOB, "month": month,
            "zh": TITLE_ZH, "en": TITLE_EN}


def owners(month: str) -> list[tuple[int, str, str]]:
    """(owner id = form id, locale, partner name) per owner."""
    rnd = random.Random(f"push-{month}")
    return [(BASE_ID + i, "zh-CN" if i % 2 == 0 else "en",
             f"{rnd.choice(CITIES)}{rnd.choice(TRADES)}{rnd.choice(KINDS)}{i % 97 + 1}号")
            for i in range(OWNERS)]


def seed(month: str, people: list[tuple[int, str, str]]) -> int:
    """Clean the previous run's rows, insert owners and forms, mark the month's push as run.
    Returns how many other draft forms of the month the push will visit too."""
    from psycopg2.extras import execute_values
    p = params(month)
    conn = connect()
    try:
        with conn.cursor() as cur:
            for statement in CLEAN_SQL:
                cur.execute(statement, p)
            execute_values(cur, USERS_SQL, [(uid, f"渠道负责人{uid - BASE_ID}", locale)
                                            for uid, locale, _ in people],
                           template=USERS_TEMPLATE, page_size=PAGE_SIZE)
            execute_values(cur, FORMS_SQL, [(uid, uid, name, month)
                                            for uid, _, name in people],
                           template=FORMS_TEMPLATE, page_size=PAGE_SIZE)
            cur.execute(ALREADY_RAN_SQL, p)
            cur.execute(OTHER_FORMS_SQL, p)
            others = cur.fetchone()[0]
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            for statement in VACUUM_SQL:
                cur.execute(statement)
    finally:
        conn.close()
    return others


def cpu_seconds(pids) -> float:
    """utime + stime of the processes still alive (0 for those gone or not on this machine)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def backend_pids(cur) -> list[int]:
    cur.execute(BACKENDS_SQL)
    return [pid for (pid,) in cur.fetchall()]


def push(stack: Stack, month: str) -> dict:
    """Trigger the push (t0) and poll until every bench owner has the notice."""
    p = params(month)
    service_pid = stack.processes["notifications"].pid
    conn = connect(autocommit=True)
    try:
        with conn.cursor() as cur:
            backends_before = backend_pids(cur)
            cpu_service = cpu_seconds([service_pid])
            cpu_db = {pid: cpu_seconds([pid]) for pid in backends_before}
            started = time.perf_counter()
            cur.execute(TRIGGER_SQL, p)
            row = cur.fetchone()
            if row is None:
                raise RuntimeError("the month's scheduled_runs row was gone before t0")
            server_t0 = row[0]
            seen = {"polls": 0}

            def inbox_count() -> int:
                cur.execute(COUNT_SQL, p)
                seen["count"], seen["server"] = cur.fetchone()
                seen["polls"] += 1
                return seen["count"]
            total = common.wait_for_count(stack, inbox_count, OWNERS, "notices", started,
                                          DEADLINE_SECONDS, POLL_SECONDS)
            count, polls, server_seen = seen["count"], seen["polls"], seen["server"]
            cpu_service = cpu_seconds([service_pid]) - cpu_service
            backends = backend_pids(cur)
            cpu_db = sum(cpu_seconds([pid]) - cpu_db.get(pid, 0.0) for pid in backends)
            cur.execute(RUN_SQL, p)
            ran_at, notices = cur.fetchone()
            cur.execute(CHECK_SQL, p)
            check = cur.fetchone()
    finally:
        conn.close()
    return {"total": total, "count": count, "polls": polls, "server_t0": server_t0,
            "server_seen": server_seen, "ran_at": ran_at, "notices": notices,
            "cpu_service": cpu_service, "cpu_db": cpu_db, "backends": len(backends),
            "check": check}


def baseline_rows(month: str, people: list[tuple[int, str, str]]) -> list[tuple]:
    """The rows the push writes, built the way `inbox.deliver` builds them."""
    import json

    from notifications.templates import render
    rows = []
    for uid, locale, name in people:
        values = {"partner_name": name, "month": month}
        title, body = render(JOB, locale, values)
        rows.append((uid, JOB, title, body, "inspection", uid,
                     json.dumps(values, ensure_ascii=False), f"push-{month}-{uid}"))
    return rows


def bare_insert_seconds(rows: list[tuple]) -> float:
    from psycopg2.extras import execute_values
    conn = connect()
    best = float("inf")
    try:
        with conn.cursor() as cur:
            cur.execute(COPY_DROP_SQL)
            cur.execute(COPY_TABLE_SQL)
            cur.execute(COPY_IDENTITY_SQL)
            conn.commit()
            for _ in range(BASELINE_TRIES):
                started = time.perf_counter()
                execute_values(cur, COPY_INSERT_SQL, rows, template=COPY_TEMPLATE,
                               page_size=PAGE_SIZE)
                conn.commit()
                best = min(best, time.perf_counter() - started)
                cur.execute(COPY_COUNT_SQL)
                assert cur.fetchone()[0] == len(rows)
                cur.execute(COPY_TRUNCATE_SQL)
                conn.commit()
    finally:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute(COPY_DROP_SQL)
        conn.commit()
        conn.close()
    return best


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main():
    os.environ["CRM_DB_PREFIX"] = "crmbench"
    env = dict(os.environ, CRM_ACCESS_LOG="false", CRM_LOG_LEVEL="WARNING",
               CRM_SCHEDULER_TICK_S="1", CRM_INSPECTION_PUSH_DAY="1")
    stack = Stack(env=env, log_dir=ROOT / ".run" / "bench-logs", gateway_port=free_port())
    try:
        ensure_infrastructure(stack.env)
        stack.start_object_store()
        stack.migrate()
        month = datetime.now(ZoneInfo(TIME_ZONE)).strftime("%Y-%m")
        people = owners(month)
        started = time.perf_counter()
        others = seed(month, people)
        print(f"Monthly inspection push {month}, {OWNERS:,} owners (ids {BASE_ID:,}..), one "
              f"draft form each; seeded in {time.perf_counter() - started:.1f} s; other draft "
              f"forms of the month in the copy: {others}; {os.cpu_count()} cores shared by "
              "everything")
        started = time.perf_counter()
        stack.start_services()
        stack.wait_ready()
        print(f"  stack up in {time.perf_counter() - started:.1f} s (not timed); scheduler "
              f"tick {env['CRM_SCHEDULER_TICK_S']} s, push day {env['CRM_INSPECTION_PUSH_DAY']}")

        r = push(stack, month)
        total = r["total"]
        tick_wait = (r["ran_at"] - r["server_t0"]).total_seconds()
        in_push = (r["server_seen"] - r["ran_at"]).total_seconds()
        print(f"  end to end (DELETE of the run row -> {OWNERS:,} notices visible) "
              f"{total:7.2f} s ({OWNERS / total:7.0f} notices/s), {r['polls']} polls")
        print(f"  server clock: tick began {tick_wait:5.2f} s after t0 (scheduled_runs.ran_at);"
              f" push transaction until seen committed {in_push:6.2f} s "
              f"({OWNERS / in_push:7.0f} notices/s)")
        print(f"  scheduled_runs.notices = {r['notices']:,} (bench owners {OWNERS:,} + other "
              f"forms {others})")
        print(f"  CPU in the window: notifications process {r['cpu_service']:6.2f} s, its "
              f"{r['backends']} PostgreSQL backends {r['cpu_db']:6.2f} s "
              f"(wall {total:.2f} s)")
        count, owners_hit, zh, en, matching, first, last = r["check"]
        ok = (count == OWNERS and owners_hit == OWNERS and zh == (OWNERS + 1) // 2
              and en == OWNERS // 2 and matching == OWNERS)
        print(f"  check: {count:,} notices, {owners_hit:,} owners, titles zh-CN {zh:,} / en "
              f"{en:,} (expected {(OWNERS + 1) // 2:,} / {OWNERS // 2:,}), {matching:,} "
              f"matching their own form; created_at {first:%H:%M:%S.%f} .. "
              f"{last:%H:%M:%S.%f}: {'OK' if ok else 'FAILED'}")

        rows = baseline_rows(month, people)
        bare = bare_insert_seconds(rows)
        print(f"Baseline, same run: bare INSERT of the same {OWNERS:,} rows (execute_values, "
              f"pages of {PAGE_SIZE}, one transaction, best of {BASELINE_TRIES})")
        print(f"  bare INSERT {bare:6.3f} s ({OWNERS / bare:9.0f} rows/s)")
        print(f"  push        {total:6.3f} s ({OWNERS / total:9.0f} rows/s) end to end; "
              f"{in_push:.3f} s in its transaction")
        print(f"  ratio push/bare INSERT: {total / bare:6.1f}x end to end, "
              f"{in_push / bare:6.1f}x the transaction alone")
        print(f"Target: push end to end < {TARGET_SECONDS:.0f} s: "
              f"{verdict(total < TARGET_SECONDS and ok)} ({total:.2f} s"
              f"{'' if ok else ', check FAILED'})")
        if not ok:
            raise SystemExit(1)
    except Exception:
        log = stack.log_dir / "notifications.log"
        if log.exists():
            print(f"--- tail of {log}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
