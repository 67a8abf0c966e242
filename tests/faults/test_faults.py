"""Faults while writes stream in: a service killed with SIGKILL, the broker killed and
restarted, PostgreSQL refusing connections, the S3 server gone. After each, every request
the clients saw accepted is stored exactly once, every event reached reporting exactly
once, the queues drain, nothing is parked, and the answers during the fault were 503
(retry) rather than 500 or a hang."""
import hashlib
import io
import os
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from PIL import Image
from sqlalchemy import create_engine, pool, text
from stream import Stream, Tally

from crmkit.settings import postgres_server_url
from crmkit.testing import unique, wait_until

PASSWORD = "fault-pass-123"
STORE_AT = (31.2304, 121.4737)
SERVICES_UNDER_STREAM = ("channels", "visits", "service_tickets", "reporting")
# The stream runs this long before the fault and after it ends.
BEFORE_S, AFTER_S = 1.5, 2.0


@pytest.fixture(scope="module")
def world(fault_api):
    api = fault_api
    token = api.post("/auth/token", json={
        "username": "admin", "password": os.environ["CRM_BOOTSTRAP_ADMIN_PASSWORD"]}).json()
    admin = {"Authorization": f"Bearer {token['access_token']}"}

    def created(path, body, headers=admin, status=201):
        reply = api.post(path, headers=headers, json=body)
        assert reply.status_code == status, f"{path}: {reply.text}"
        return reply.json()

    def login(user):
        reply = api.post("/auth/token", json={"username": user["username"],
                                              "password": PASSWORD})
        return {"Authorization": f"Bearer {reply.json()['access_token']}"}

    region = created("/org-units", {"name": unique("华东大区"), "kind": "region",
                                    "parent_id": 1})
    people = {}
    for key, role in (("manager", "region_manager"), ("owner", "channel_owner"),
                      ("sales", "field_sales")):
        people[key] = created("/users", {
            "username": unique(key), "password": PASSWORD, "display_name": key,
            "roles": [role], "org_unit_id": region["id"],
            "manager_id": people["manager"]["id"] if key != "manager" else 1})
    owner = login(people["owner"])
    partner = created("/partners", {"code": unique("SH"), "name": "上海连锁",
                                    "kind": "chain", "owner_id": people["owner"]["id"]},
                      owner)
    store = created("/stores", {"code": unique("ST"), "name": "南京路店",
                                "partner_id": partner["id"], "address": "上海市黄浦区",
                                "lat": STORE_AT[0], "lon": STORE_AT[1],
                                "owner_id": people["owner"]["id"]}, owner)
    month = datetime.now(UTC).strftime("%Y-%m")
    manager = login(people["manager"])
    form = created("/inspections", {"partner_id": partner["id"], "month": month,
                                    "store_ids": [store["id"]]}, manager)

    service_partner = created("/partners", {"code": unique("ASP"), "name": "上海维修",
                                            "kind": "service_provider"})
    fixer = created("/users", {"username": unique("fixer"), "password": PASSWORD,
                               "display_name": "维修员", "roles": ["repair_partner"],
                               "org_unit_id": 1, "manager_id": 1,
                               "partner_id": service_partner["id"]})
    part = created("/parts", {"code": unique("LCD"), "name": "显示屏",
                              "unit_price": "99.00"})
    warehouse = created("/warehouses", {"code": unique("SH"), "name": "上海仓",
                                        "kind": "branch"})
    created("/stocks/adjustments", {"warehouse_id": warehouse["id"], "part_id": part["id"],
                                    "qty": 100000, "reason": "入库"}, status=200)
    sales = login(people["sales"])
    # The store reaches visits through channels' events.
    assert wait_until(lambda: api.get("/visits", headers=sales).status_code == 200
                      and _store_copied(api, sales, store["id"]), timeout=20)
    return {"admin": admin, "owner": owner, "manager": manager, "sales": sales,
            "fixer": login(fixer), "sales_id": people["sales"]["id"],
            "partner_id": partner["id"], "service_partner_id": service_partner["id"],
            "store_id": store["id"], "store_at": STORE_AT, "form_id": form["id"],
            "month": month, "part_id": part["id"], "warehouse_id": warehouse["id"],
            "tally": Tally()}


def _store_copied(api, sales, store_id) -> bool:
    # Planning needs the store's copy in visits; a plan far ahead is harmless.
    reply = api.post("/visits", headers=sales, json={
        "store_id": store_id, "planned_at": "2099-01-01T09:00:00+08:00"})
    return reply.status_code == 201


def _database(stack, service: str):
    name = f"{stack.env['CRM_DB_PREFIX']}_{service}"
    return create_engine(f"{postgres_server_url()}/{name}", poolclass=pool.NullPool)


def _stored(stack, world) -> dict:
    """What the owning services hold of the stream's records, straight from their tables."""
    with _database(stack, "channels").connect() as conn:
        lines = conn.execute(text(
            "SELECT customer_name, quantity FROM inspection_lines WHERE inspection_id = :f"),
            {"f": world["form_id"]}).all()
    with _database(stack, "visits").connect() as conn:
        visits = conn.execute(text(
            "SELECT id, check_in_at IS NOT NULL FROM visits WHERE user_id = :u "
            "AND planned_at < '2099-01-01'"), {"u": world["sales_id"]}).all()
    with _database(stack, "service_tickets").connect() as conn:
        orders = conn.execute(text(
            "SELECT note, id FROM parts_orders WHERE partner_id = :p"),
            {"p": world["service_partner_id"]}).all()
    return {"lines": sorted(map(tuple, lines)), "visits": sorted(map(tuple, visits)),
            "orders": sorted(map(tuple, orders))}


def _reported(api, world) -> dict:
    """The stream's figures as the reports show them to the people who read them."""
    month = world["month"]
    channels = api.get("/reports/channels", headers=world["manager"],
                       params={"month": month, "group_by": "partner"}).json()
    row = next((r for r in channels["rows"] if r["key"] == world["partner_id"]), None)
    visits = api.get("/reports/visits", headers=world["manager"],
                     params={"month": month}).json()
    person = next((r for r in visits["rows"] if r["user_id"] == world["sales_id"]), None)
    orders = 0
    for report_month in {month, datetime.now(UTC).strftime("%Y-%m")}:
        tickets = api.get("/reports/tickets", headers=world["fixer"],
                          params={"month": report_month}).json()
        orders += sum(o["orders"] for o in tickets["parts_orders"])
    return {"line_count": row["line_count"] if row else 0,
            "quantity": row["quantity"] if row else 0,
            "checked_in": person["checked_in"] if person else 0,
            "orders": orders}


def _expected(tally: Tally) -> dict:
    return {"line_count": len(tally.lines), "quantity": sum(q for _, q in tally.lines),
            "checked_in": len(tally.check_ins), "orders": len(tally.orders)}


def _assert_exactly_once(stack, broker, api, world) -> None:
    tally = world["tally"]
    assert not tally.failures, tally.failures
    assert tally.unexpected() == {} and tally.transport_errors == 0, (
        tally.statuses, tally.transport_errors)
    stored = _stored(stack, world)
    assert stored["lines"] == sorted(tally.lines)
    assert stored["visits"] == sorted((visit_id, True) for visit_id in tally.check_ins)
    assert stored["orders"] == sorted(tally.orders)

    expected = _expected(tally)
    figures = {}

    def caught_up():
        figures.update(_reported(api, world))
        return figures == expected
    assert wait_until(caught_up, timeout=60, interval=0.5), (figures, expected)
    assert wait_until(lambda: _drained(broker), timeout=30), broker.queue_depths()
    parked = {name: n for name, n in broker.queue_depths().items() if name.endswith(".dlq")}
    assert set(parked.values()) <= {0}, parked
    # Drained and still equal: nothing arrived twice after the figures first matched.
    assert _reported(api, world) == expected


def _drained(broker) -> bool:
    return all(n == 0 for name, n in broker.queue_depths().items()
               if not name.startswith("rpc.reply"))


def _stream_through(stack, world, fault) -> Tally:
    tally = world["tally"]
    before = Counter(tally.statuses)
    with Stream(f"{stack.url}/api/v1", world, tally):
        time.sleep(BEFORE_S)
        started = time.monotonic()
        fault()
        fault_s = time.monotonic() - started
        time.sleep(AFTER_S)
    answers = tally.statuses - before
    assert answers.total() > 0
    # The figures docs/reliability.md quotes (`pytest -s tests/faults`).
    print(f"\n{fault.__name__}: fault lasted {fault_s:.1f}s; answers {dict(answers)}; "
          f"accepted so far: {len(tally.lines)} lines, {len(tally.check_ins)} check-ins, "
          f"{len(tally.orders)} parts orders")
    return tally


def _wait_ready(stack) -> None:
    def ready():
        try:
            return httpx.get(f"{stack.url}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False
    assert wait_until(ready, timeout=90, interval=0.5), httpx.get(f"{stack.url}/readyz").text


def test_services_killed_mid_stream_lose_and_double_nothing(fault_stack, broker, fault_api,
                                                            world):
    def crash():
        for name in SERVICES_UNDER_STREAM:
            fault_stack.kill(name)
        time.sleep(1.0)
        for name in SERVICES_UNDER_STREAM:
            fault_stack.respawn(name)
        _wait_ready(fault_stack)

    tally = _stream_through(fault_stack, world, crash)
    assert tally.statuses[503] > 0, tally.statuses  # the stream really hit the outage
    _assert_exactly_once(fault_stack, broker, fault_api, world)


def test_broker_killed_and_restarted_mid_stream(fault_stack, broker, fault_api, world):
    pids = {name: proc.pid for name, proc in fault_stack.processes.items()}

    def broker_crash():
        broker.kill()
        time.sleep(1.0)
        broker.start()
        _wait_ready(fault_stack)

    tally = _stream_through(fault_stack, world, broker_crash)
    assert tally.statuses[503] > 0, tally.statuses
    _assert_exactly_once(fault_stack, broker, fault_api, world)
    # Every process reconnected by itself.
    fault_stack.check_alive()
    assert {name: proc.pid for name, proc in fault_stack.processes.items()} == pids


def _allow_connections(stack, allowed: bool, services=None) -> None:
    """ALLOW_CONNECTIONS on the stack's databases (all, or those of `services`); refusing
    also ends the sessions already open, as a failover or a restart would."""
    admin = create_engine(f"{postgres_server_url()}/postgres", poolclass=pool.NullPool,
                          isolation_level="AUTOCOMMIT")
    prefix = stack.env["CRM_DB_PREFIX"]
    with admin.connect() as conn:
        names = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                             {"p": prefix.replace("_", r"\_") + r"\_%"}).scalars().all()
        if services is not None:
            names = [name for name in names if name[len(prefix) + 1:] in services]
        for name in names:
            conn.execute(text(  # sql: identifiers only
                f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}'))
        if not allowed:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = ANY(:names)"), {"names": names})
    admin.dispose()


def test_postgres_refusing_connections_is_503_then_recovers(fault_stack, broker, fault_api,
                                                            world):
    pids = {name: proc.pid for name, proc in fault_stack.processes.items()}
    outage_answers = []

    def database_outage():
        # Every database: requests are refused with 503 and nothing is half-written.
        _allow_connections(fault_stack, False)
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                outage_answers.append(fault_api.get(
                    f"/inspections/{world['form_id']}", headers=world["manager"]).status_code)
                time.sleep(0.2)
        finally:
            _allow_connections(fault_stack, True)
        # Only reporting's: writes go on and their events queue up, failing in reporting's
        # consumers until the database is back. An outage is not the events' fault: none
        # of them may end up parked as undeliverable.
        _allow_connections(fault_stack, False, services={"reporting"})
        try:
            time.sleep(3)
        finally:
            _allow_connections(fault_stack, True, services={"reporting"})

    tally = _stream_through(fault_stack, world, database_outage)
    assert 503 in outage_answers and set(outage_answers) <= {200, 503}, outage_answers
    assert tally.statuses[503] > 0, tally.statuses
    _assert_exactly_once(fault_stack, broker, fault_api, world)
    fault_stack.check_alive()
    assert {name: proc.pid for name, proc in fault_stack.processes.items()} == pids


def test_object_store_down_photo_slots_503_visits_go_on(fault_stack, fault_api, world):
    sales = world["sales"]
    lat, lon = world["store_at"]

    def checked_in_visit() -> int:
        planned = fault_api.post("/visits", headers=sales, json={
            "store_id": world["store_id"], "planned_at": datetime.now(UTC).isoformat()})
        assert planned.status_code == 201, planned.text
        visit_id = planned.json()["id"]
        checked_in = fault_api.post(f"/visits/{visit_id}/check-in", headers=sales, json={
            "lat": lat, "lon": lon, "accuracy_m": 10, "at": datetime.now(UTC).isoformat()})
        assert checked_in.status_code == 200, checked_in.text
        return visit_id

    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(picture, "JPEG")
    photo = picture.getvalue()
    declared = {"content_type": "image/jpeg", "size": len(photo),
                "sha256": hashlib.sha256(photo).hexdigest(), "source": "camera"}

    fault_stack.kill("s3")
    try:
        visit_id = checked_in_visit()
        slot = fault_api.post(f"/visits/{visit_id}/photos", headers=sales, json=declared)
        assert slot.status_code == 503, slot.text
        assert slot.json()["error"]["code"] == "service_unavailable"
        done = fault_api.post(f"/visits/{visit_id}/check-out", headers=sales,
                              json={"feedback": "相机上传失败, 其余正常"})
        assert done.status_code == 200 and done.json()["status"] == "completed"
        assert httpx.get(f"{fault_stack.url}/readyz").status_code == 503
    finally:
        fault_stack.respawn("s3")
        fault_stack.wait_object_store()
    # A new, empty S3 server: the next slot makes the bucket again and the photo goes
    # through end to end.
    visit_id = checked_in_visit()
    slot = fault_api.post(f"/visits/{visit_id}/photos", headers=sales, json=declared)
    assert slot.status_code == 201, slot.text
    assert httpx.put(slot.json()["upload_url"], content=photo,
                     headers={"Content-Type": "image/jpeg"}).status_code == 200
    confirmed = fault_api.post(
        f"/visits/{visit_id}/photos/{slot.json()['photo_id']}/confirm", headers=sales)
    assert confirmed.status_code == 200, confirmed.text
    _wait_ready(fault_stack)
