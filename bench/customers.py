"""Duplicate check for a new customer name against 1,000,000 customers (BENCH_CUSTOMERS
overrides), PostgreSQL's pg_trgm `%` on `customers.name_key` with its GIN trigram index.

Setup (not timed against the targets): the customers are loaded straight into
crmbench_accounts.customers with COPY, realistic Chinese company names (city + trade name +
industry + legal form) with phones and, for half of them, tax ids; keys computed with the
service's own `name_key`/`phone_key`/`tax_key`. A re-run reuses the rows when enough are
there. Non-constraint indexes are dropped for the load and rebuilt in the same transaction.

Measured, for 200 new names (100 near-duplicates of existing customers - another legal form,
spaces, full-width characters, an English suffix, one changed character - and 100 fresh
names), sequentially, as admin:
  (a) in process: `accounts.customers.find_duplicates` in a UnitOfWork, committed;
  (b) through the gateway: GET /api/v1/customers/duplicates?name=...;
  (c) baseline, for a few names: every active customer's name_key streamed into Python and
      scored with `similarity_score` (pg_trgm's similarity in Python), keeping >= 0.45.
Prints p50/p95/p99 of each, the ratios baseline/(a), whether each near-duplicate's original
is among (a)'s results, and the plan of the query for a sample name.

Targets: p95 < 50 ms for (a) and for (b); baseline at least 20x slower than (a).

Run: .venv/bin/python bench/customers.py   (starts its own stack on databases crmbench_*)
"""
import io
import math
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
from local_stack import Stack, free_port  # noqa: E402

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "1000000"))
NEAR_DUPLICATES = 100
FRESH = 100
WARMUP = 20
BASELINE_CHECKS = 5
LIMIT = 10
COPY_BATCH = 100_000
TARGET_P95_MS = 50.0
TARGET_RATIO = 20.0
CODE_PREFIX = "B"  # the service's own codes are C{yyyy}{seq}

CITIES = ("北京 上海 广州 深圳 杭州 成都 武汉 南京 西安 重庆 天津 苏州 长沙 郑州 青岛 沈阳 "
          "大连 厦门 宁波 济南 合肥 福州 昆明 哈尔滨 长春 石家庄 太原 南昌 南宁 贵阳 兰州 "
          "乌鲁木齐 呼和浩特 无锡 东莞 佛山 珠海 温州 泉州 烟台").split()
TRADE_CHARS = ("华新达盛通泰恒瑞丰利源鑫隆昌宏信远博德安康正天海金中汇联创星辉永佳凯宇腾飞嘉诚"
               "鼎晟誉明振兴润锦荣和祥益合顺富光明亿威龙升东方立卓越精英峰")
TRADE_NAMES = 4000
INDUSTRIES = ("科技 贸易 电子 实业 通信 物流 医药 建设 信息技术 网络 电器 机械 能源 环保 食品 "
              "文化传媒 教育科技 数码 软件 智能科技 供应链管理 餐饮管理 汽车服务 工程 咨询").split()
LEGAL_FORMS = ["有限公司"] * 6 + ["股份有限公司"] * 2 + ["集团有限公司", "有限责任公司", ""]
KNOWN_FORMS = sorted(set(LEGAL_FORMS) - {""}, key=len, reverse=True)
TAX_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
NEAR_KINDS = ("legal form", "spaces", "full-width", "English suffix", "one char changed")

COPY_COLUMNS = ("code, name, name_key, type, phone, phone_key, tax_id, tax_key, owner_id, "
                "team_member_ids, status")
COPY_SQL = "COPY customers (" + COPY_COLUMNS + ") FROM STDIN"
DROPPABLE_INDEXES_SQL = """
    SELECT indexname, indexdef FROM pg_indexes
    WHERE schemaname = current_schema() AND tablename = 'customers'
      AND indexname NOT IN (SELECT conname FROM pg_constraint
                            WHERE conrelid = 'customers'::regclass)"""
BASELINE_SQL = "SELECT id, name_key FROM customers WHERE status = 'active'"
PLAN_SQL = """
    EXPLAIN (ANALYZE, BUFFERS)
    SELECT customers.*, similarity(name_key, %(k)s) AS name_score FROM customers
    WHERE name_key %% %(k)s AND status = 'active'
    ORDER BY name_score DESC, id LIMIT %(n)s"""


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(ms: list[float]) -> str:
    return (f"p50 {percentile(ms, 50):7.2f} ms  p95 {percentile(ms, 95):7.2f} ms  "
            f"p99 {percentile(ms, 99):7.2f} ms  mean {statistics.fmean(ms):7.2f} ms  "
            f"(n={len(ms)})")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


# --- names --------------------------------------------------------------------------------
def trade_names(rnd: random.Random) -> list[str]:
    names: set[str] = set()
    while len(names) < TRADE_NAMES:
        length = rnd.choices((2, 3, 4), weights=(50, 35, 15))[0]
        names.add("".join(rnd.choices(TRADE_CHARS, k=length)))
    return sorted(names)


class NameMaker:
    def __init__(self, seed: str):
        self.rnd = random.Random(seed)
        self.trades = trade_names(random.Random("trade-names"))

    def name(self) -> str:
        rnd = self.rnd
        return (rnd.choice(CITIES) + rnd.choice(self.trades) + rnd.choice(INDUSTRIES)
                + rnd.choice(LEGAL_FORMS))

    def mobile(self) -> str:
        return f"1{self.rnd.choice('358')}{self.rnd.randrange(10**9):09d}"

    def tax_id(self) -> str:
        return "91" + "".join(self.rnd.choices(TAX_CHARS, k=16))


def split_form(name: str) -> tuple[str, str]:
    for form in KNOWN_FORMS:
        if name.endswith(form):
            return name[: -len(form)], form
    return name, ""


def to_full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def near_duplicate(name: str, kind: str, rnd: random.Random) -> str:
    base, form = split_form(name)
    if kind == "legal form":
        return base + rnd.choice([f for f in [*KNOWN_FORMS, ""] if f != form])
    if kind == "spaces":
        cut = rnd.randrange(2, len(base))
        return f" {base[:2]} {base[2:cut]} {base[cut:]}{form} "
    if kind == "full-width":
        return base[:2] + "\u3000" + base[2:] + form + to_full_width(" (Co., Ltd.)")
    if kind == "English suffix":
        return base + " Co., Ltd."
    # one char changed: a character of the trade name (after the city), not the first one
    at = rnd.randrange(3, len(base) - 1) if len(base) > 4 else len(base) - 1
    swap = rnd.choice([c for c in TRADE_CHARS if c != base[at]])
    return base[:at] + swap + base[at + 1:] + form


# --- load ---------------------------------------------------------------------------------
def connect(url: str):
    import psycopg2
    conn = psycopg2.connect(url)
    conn.set_client_encoding("UTF8")
    return conn


def copy_rows(cur, start: int, stop: int) -> None:
    from accounts.customer_keys import name_key, phone_key, tax_key
    maker = NameMaker(f"load-{start}")
    for first in range(start, stop, COPY_BATCH):
        out = io.StringIO()
        for i in range(first, min(first + COPY_BATCH, stop)):
            name, phone = maker.name(), maker.mobile()
            tax_id = maker.tax_id() if i % 2 == 0 else None
            out.write("\t".join((
                f"{CODE_PREFIX}{i:08d}", name, name_key(name), "enterprise", phone,
                phone_key(phone), tax_id or "\\N", tax_key(tax_id) or "\\N", "1", "{}",
                "active")) + "\n")
        out.seek(0)
        cur.copy_expert(COPY_SQL, out)


def load(url: str) -> None:
    """COPY customers until there are CUSTOMERS rows, in one transaction with the
    non-constraint indexes dropped and rebuilt from their own definitions."""
    from psycopg2 import sql
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM customers")
            present = cur.fetchone()[0]
            if present >= CUSTOMERS:
                print(f"Customers: {present:,} rows present, load reused")
                return
            cur.execute("SELECT count(*) FROM customers WHERE code LIKE 'B%'")
            start = cur.fetchone()[0]
            stop = start + CUSTOMERS - present
            started = time.perf_counter()
            cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
            cur.execute(DROPPABLE_INDEXES_SQL)
            indexes = cur.fetchall()
            for index_name, _ in indexes:
                cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index_name)))
            copy_rows(cur, start, stop)
            copied = time.perf_counter() - started
            for _, definition in indexes:
                cur.execute(definition)
        conn.commit()
        indexed = time.perf_counter() - started - copied
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) customers")
        total = time.perf_counter() - started
        print(f"Customers: loaded {stop - start:,} rows in {total:.1f} s (generate + COPY "
              f"{copied:.1f} s, rebuild {len(indexes)} indexes {indexed:.1f} s, "
              f"VACUUM ANALYZE {total - copied - indexed:.1f} s); {present + stop - start:,} "
              "rows now")
    finally:
        conn.close()


# --- the checks ---------------------------------------------------------------------------
def sample_names(url: str) -> tuple[list[tuple[int, str, str, str]], list[str], list[str]]:
    """(original id, original name, kind, near-duplicate name) x NEAR_DUPLICATES, fresh
    names, warm-up names."""
    rnd = random.Random("duplicate-check")
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT min(id), max(id) FROM customers")
            low, high = cur.fetchone()
            cur.execute("SELECT id, name FROM customers WHERE id = ANY(%s) ORDER BY id",
                        (rnd.sample(range(low, high + 1), NEAR_DUPLICATES * 2),))
            rows = cur.fetchall()[:NEAR_DUPLICATES]
            conn.rollback()
    finally:
        conn.close()
    near = [(cid, name, NEAR_KINDS[n % len(NEAR_KINDS)],
             near_duplicate(name, NEAR_KINDS[n % len(NEAR_KINDS)], rnd))
            for n, (cid, name) in enumerate(rows)]
    maker = NameMaker("fresh")
    fresh = [maker.name() for _ in range(FRESH)]
    warmup = [maker.name() for _ in range(WARMUP)]
    return near, fresh, warmup


def admin_caller(url: str):
    from crmkit.context import Caller
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT u.id, o.id, o.path FROM users u JOIN org_units o "
                        "ON o.id = u.org_unit_id WHERE lower(u.username) = 'admin'")
            user_id, org_unit_id, org_path = cur.fetchone()
            conn.rollback()
    finally:
        conn.close()
    return Caller(user_id=user_id, roles=frozenset({"admin"}), org_unit_id=org_unit_id,
                  org_path=org_path)


def in_process(session_factory, caller, names: list[str]) -> tuple[list[float], list[list]]:
    from accounts.customers import find_duplicates
    from crmkit.database import UnitOfWork
    times, results = [], []
    for name in names:
        unit = UnitOfWork(session_factory, {}, "accounts")
        unit.act_as(caller)
        try:
            started = time.perf_counter()
            found = find_duplicates(unit, name, None, None, limit=LIMIT)
            unit.commit()
            times.append((time.perf_counter() - started) * 1000)
        finally:
            unit.close()
        results.append(found)
    return times, results


def via_gateway(client: httpx.Client, names: list[str]) -> tuple[list[float], list[list]]:
    times, results = [], []
    for name in names:
        started = time.perf_counter()
        reply = client.get("/customers/duplicates", params={"name": name, "limit": LIMIT})
        elapsed = (time.perf_counter() - started) * 1000
        assert reply.status_code == 200, reply.text
        times.append(elapsed)
        results.append(reply.json()["items"])
    return times, results


def in_python(url: str, names: list[str]) -> tuple[list[float], list[list[tuple[int, float]]]]:
    """The baseline: every active customer's key into Python, scored there."""
    from accounts.customer_keys import name_key, similarity_score
    from accounts.customers import NAME_SIMILARITY
    conn = connect(url)
    times, results = [], []
    try:
        for name in names:
            started = time.perf_counter()
            key = name_key(name)
            found = []
            with conn.cursor(name=f"all_keys_{uuid.uuid4().hex[:8]}") as cur:
                cur.itersize = 50_000
                cur.execute(BASELINE_SQL)
                for cid, other in cur:
                    score = similarity_score(other, key)
                    if score >= NAME_SIMILARITY:
                        found.append((cid, score))
            conn.rollback()
            found.sort(key=lambda c: (-c[1], c[0]))
            times.append((time.perf_counter() - started) * 1000)
            results.append(found)
    finally:
        conn.close()
    return times, results


def show_plan(url: str, name: str) -> None:
    from accounts.customer_keys import name_key
    from accounts.customers import NAME_SIMILARITY
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('pg_trgm.similarity_threshold', %s, true)",
                        (str(NAME_SIMILARITY),))
            cur.execute(PLAN_SQL, {"k": name_key(name), "n": LIMIT * 3})
            print(f"Plan of the check for {name!r} (key {name_key(name)!r}):")
            for (line,) in cur.fetchall():
                print(f"    {line}")
        conn.rollback()
    finally:
        conn.close()


def main():
    os.environ["CRM_DB_PREFIX"] = "crmbench"
    env = dict(os.environ, CRM_ACCESS_LOG="false", CRM_LOG_LEVEL="WARNING")
    stack = Stack(env=env, log_dir=ROOT / ".run" / "bench-logs", gateway_port=free_port())
    try:
        stack.start()
        from sqlalchemy.engine import make_url
        from sqlalchemy.orm import sessionmaker

        from crmkit.database import make_engine
        from crmkit.settings import database_settings
        settings = database_settings("accounts")
        url = make_url(settings.url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        load(url)
        near, fresh, warmup = sample_names(url)
        names = [n[3] for n in near] + fresh
        print(f"Duplicate check by name, {len(near)} near-duplicates + {len(fresh)} fresh "
              f"names, sequential, limit {LIMIT}; {os.cpu_count()} cores shared by everything")

        engine = make_engine(settings)
        session_factory = sessionmaker(engine, expire_on_commit=False)
        caller = admin_caller(url)
        in_process(session_factory, caller, warmup)
        a_times, a_results = in_process(session_factory, caller, names)
        print(f"  (a) in process, find_duplicates   {summary(a_times)}")
        print(f"      near-duplicates only          {summary(a_times[:len(near)])}")
        print(f"      fresh names only              {summary(a_times[len(near):])}")

        client = httpx.Client(base_url=f"{stack.url}/api/v1", timeout=60)
        reply = client.post("/auth/token", json={
            "username": "admin", "password": stack.env["CRM_BOOTSTRAP_ADMIN_PASSWORD"]})
        assert reply.status_code == 200, reply.text
        client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
        via_gateway(client, warmup)
        b_times, b_results = via_gateway(client, names)
        print(f"  (b) gateway GET /customers/duplicates {summary(b_times)}")
        client.close()

        baseline_names = [n[3] for n in near[:3]] + fresh[:BASELINE_CHECKS - 3]
        c_times, c_results = in_python(url, baseline_names)
        print(f"  (c) baseline, all keys into Python {summary(c_times)}")
        a_same = [a_times[names.index(n)] for n in baseline_names]
        ratio_mean = statistics.fmean(c_times) / statistics.fmean(a_times)
        ratio_p95 = percentile(c_times, 95) / percentile(a_times, 95)
        print(f"      ratio baseline/(a): mean {ratio_mean:,.0f}x, p95 {ratio_p95:,.0f}x; "
              f"on the same {len(baseline_names)} names {statistics.fmean(c_times):,.0f} ms "
              f"vs {statistics.fmean(a_same):.1f} ms")

        # Correctness: the original among (a)'s results; (a) and (b) agree; (a) agrees with
        # the Python scores on the baseline names.
        hits: dict[str, list[bool]] = {kind: [] for kind in NEAR_KINDS}
        near_results = a_results[:len(near)]
        for (cid, _, kind, _), found in zip(near, near_results, strict=True):
            hits[kind].append(cid in [c["id"] for c in found])
        total = sum(sum(h) for h in hits.values())
        print(f"  near-duplicates whose original is among (a)'s results: {total}/{len(near)}")
        for kind, got in hits.items():
            print(f"      {kind:<18} {sum(got)}/{len(got)}")
        misses = [(name, dup) for (cid, name, _, dup), found in zip(near, near_results, strict=True)
                  if cid not in [c["id"] for c in found]]
        from accounts.customer_keys import name_key, similarity_score
        for name, dup in misses[:10]:
            score = similarity_score(name_key(name), name_key(dup))
            print(f"      missed: {dup!r} (original {name!r}, similarity of the keys "
                  f"{score:.3f})")
        same = sum([c["id"] for c in x] == [c["id"] for c in y]
                   for x, y in zip(a_results, b_results, strict=True))
        print(f"  (a) and (b) return the same ids for {same}/{len(names)} names")
        agree = 0
        for name, python in zip(baseline_names, c_results, strict=True):
            pg = a_results[names.index(name)]
            agree += [c["id"] for c in pg] == [cid for cid, _ in python[:LIMIT]]
        print(f"  (a) and the Python scores give the same top {LIMIT} for "
              f"{agree}/{len(baseline_names)} baseline names "
              f"(matches per name in Python: {[len(r) for r in c_results]})")
        print(f"  matches per name in (a): mean {statistics.fmean(len(r) for r in a_results):.1f}"
              f", names with none {sum(not r for r in a_results)}")

        show_plan(url, near[0][3])
        engine.dispose()

        a95, b95 = percentile(a_times, 95), percentile(b_times, 95)
        print(f"Targets: (a) p95 < {TARGET_P95_MS:.0f} ms: {verdict(a95 < TARGET_P95_MS)} "
              f"({a95:.1f} ms); (b) p95 < {TARGET_P95_MS:.0f} ms: "
              f"{verdict(b95 < TARGET_P95_MS)} ({b95:.1f} ms); baseline >= "
              f"{TARGET_RATIO:.0f}x (a): {verdict(min(ratio_mean, ratio_p95) >= TARGET_RATIO)} "
              f"(mean {ratio_mean:,.0f}x, p95 {ratio_p95:,.0f}x)")
    except Exception:
        log = stack.log_dir / "accounts.log"
        if log.exists():
            print(f"--- tail of {log}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
