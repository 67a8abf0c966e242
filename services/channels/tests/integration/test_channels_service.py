"""The channels service over real RPC, with its real database, accounts running beside it
for the directory, and the events it publishes read off the real broker."""
import base64
import uuid

import pytest

from accounts.service import AccountsService
from channels.service import ChannelsService
from crmkit import errors
from crmkit.context import Caller
from crmkit.testing import ADMIN, unique, wait_until


def _caller(user, unit):
    return Caller(user_id=user["id"], roles=frozenset(user["roles"]), org_unit_id=unit["id"],
                  org_path=unit["path"])


@pytest.fixture
def system(migrated, start_service, rpc_as):
    migrated("accounts")
    migrated("channels")
    from accounts.bootstrap import bootstrap
    bootstrap("admin-test-password")
    start_service(AccountsService)
    start_service(ChannelsService)
    return rpc_as


def _region(rpc_as):
    """A region with a manager, a channel owner and a field salesperson under them."""
    accounts = rpc_as(ADMIN, "accounts")
    region = accounts.create_org_unit(data={"name": unique("大区"), "kind": "region",
                                            "parent_id": 1})
    people = {}
    manager_id = 1
    for role in ("region_manager", "channel_owner", "field_sales"):
        user = accounts.create_user(data={
            "username": unique(role[:3]), "password": "a-good-password", "display_name": role,
            "roles": [role], "org_unit_id": region["id"], "manager_id": manager_id})
        people[role] = _caller(user, region)
        if role == "region_manager":
            manager_id = user["id"]
    return region, people


def _as(rpc_as, caller):
    return rpc_as(caller, "channels")


def _partner(channels, **extra):
    return channels.create_partner(data={"code": unique("P"), "name": unique("华东分销"),
                                         "kind": "provincial_distributor", **extra})


def _store(channels, partner_id, **extra):
    return channels.create_store(data={
        "code": unique("S"), "name": "南京路旗舰店", "partner_id": partner_id,
        "address": "上海市黄浦区南京东路1号", "lat": 31.2304, "lon": 121.4737, **extra})


def test_partner_scope_field_rules_and_history(system):
    _, a = _region(system)
    _, b = _region(system)
    owner = _as(system, a["channel_owner"])
    partner = _partner(owner, tier="silver")
    assert partner["owner_id"] == a["channel_owner"].user_id
    assert partner["credit_limit"] == "0.00"
    with pytest.raises(errors.Forbidden) as read_only:  # credit is read-only for the owner
        owner.update_partner(partner_id=partner["id"], data={"credit_limit": "500000"})
    assert "credit_limit" in read_only.value.fields
    manager = _as(system, a["region_manager"])
    manager.update_partner(partner_id=partner["id"], data={
        "tier": "gold", "credit_limit": 800000.5, "note": "年度评审"})
    history = manager.get_partner_history(partner_id=partner["id"])["items"]
    assert [(h["field"], h["old_value"], h["new_value"]) for h in history[:2]] == [
        ("credit_limit", "0.00", "800000.50"), ("tier", "silver", "gold")]
    seen_by_sales = _as(system, a["field_sales"]).get_partner(partner_id=partner["id"])
    assert "credit_limit" not in seen_by_sales and seen_by_sales["tier"] == "gold"
    with pytest.raises(errors.NotFound):  # a sibling region does not see it
        _as(system, b["region_manager"]).get_partner(partner_id=partner["id"])
    with pytest.raises(errors.Forbidden):  # field sales maintain nothing
        _as(system, a["field_sales"]).update_partner(partner_id=partner["id"],
                                                     data={"name": "x"})
    with pytest.raises(errors.Conflict):
        owner.create_partner(data={"code": partner["code"].lower(), "name": "同码",
                                   "kind": "chain"})
    with pytest.raises(errors.Conflict):  # no cycles in the partner hierarchy
        child = _partner(manager, parent_id=partner["id"])
        manager.update_partner(partner_id=partner["id"], data={"parent_id": child["id"]})


def test_store_changes_are_published_for_read_copies(system, event_tap):
    _, a = _region(system)
    tap = event_tap("channels", "store_created", "store_updated")
    owner = _as(system, a["channel_owner"])
    partner = _partner(owner)
    store = _store(owner, partner["id"], products=["手机", "平板"])
    assert store["visitable"] is True
    created = tap.wait_for(lambda e: e["data"]["store"]["id"] == store["id"])
    assert created["type"] == "store_created" and created["data"]["store"]["lat"] == 31.2304
    assert created["actor"]["user_id"] == a["channel_owner"].user_id
    owner.update_store(store_id=store["id"], data={"address": None, "lat": None, "lon": None})
    updated = tap.wait_for(lambda e: e["type"] == "store_updated")
    assert updated["data"]["store"]["visitable"] is False
    with pytest.raises(errors.ValidationFailed) as half:
        owner.update_store(store_id=store["id"], data={"lat": 30.0})
    assert "lon" in half.value.fields
    with pytest.raises(errors.ValidationFailed) as outside:  # a partner out of scope
        _, b = _region(system)
        _store(_as(system, b["channel_owner"]), partner["id"])
    assert "partner_id" in outside.value.fields


def test_inspection_workflow_and_review_from_above(system, event_tap):
    _, a = _region(system)
    _, b = _region(system)
    tap = event_tap("channels", "inspection_created", "inspection_line_added",
                    "inspection_submitted", "inspection_reviewed")
    owner = _as(system, a["channel_owner"])
    manager = _as(system, a["region_manager"])
    partner = _partner(owner)
    linked = _store(owner, partner["id"])
    other = _store(owner, partner["id"])
    with pytest.raises(errors.Forbidden):  # a channel owner does not create forms
        owner.create_inspection(data={"partner_id": partner["id"], "month": "2026-11"})
    form = manager.create_inspection(data={
        "partner_id": partner["id"], "month": "2026-11", "store_ids": [linked["id"]],
        "basic_info": "华东核心渠道", "channel_share": "35.5"})
    assert form["owner_id"] == a["channel_owner"].user_id and form["status"] == "draft"
    with pytest.raises(errors.Conflict):
        manager.create_inspection(data={"partner_id": partner["id"], "month": "2026-11"})
    with pytest.raises(errors.ValidationFailed) as unlinked:
        owner.add_inspection_line(inspection_id=form["id"], data={
            "customer_name": "张三", "store_id": other["id"], "product_type": "手机",
            "quantity": 3, "amount": "4500.00"})
    assert "store_id" in unlinked.value.fields
    for quantity, amount in ((3, "4500.00"), (2, "3000.50")):
        owner.add_inspection_line(inspection_id=form["id"], data={
            "customer_name": "张三", "store_id": linked["id"], "product_type": "手机",
            "quantity": quantity, "amount": amount})
    owner.submit_inspection(inspection_id=form["id"])
    with pytest.raises(errors.Conflict):  # a submitted form takes no more lines
        owner.add_inspection_line(inspection_id=form["id"], data={
            "customer_name": "李四", "store_id": linked["id"], "product_type": "平板",
            "quantity": 1, "amount": "100"})
    with pytest.raises(errors.Forbidden):  # the submitter cannot review
        owner.review_inspection(inspection_id=form["id"], data={})
    with pytest.raises(errors.NotFound):  # nor can another region's manager
        _as(system, b["region_manager"]).review_inspection(inspection_id=form["id"], data={})
    reviewed = manager.review_inspection(inspection_id=form["id"], data={"comment": "同意"})
    assert reviewed["status"] == "reviewed" and reviewed["total_amount"] == "7500.50"
    with pytest.raises(errors.Conflict):
        manager.review_inspection(inspection_id=form["id"], data={})
    event = tap.wait_for(lambda e: e["type"] == "inspection_reviewed")
    assert event["data"]["totals"] == [{"product_type": "手机", "quantity": 5,
                                        "amount": "7500.50"}]
    assert len([e for e in tap.drain() if e["type"] == "inspection_line_added"]) == 2
    found = manager.list_inspections(query={"partner_name": partner["name"][2:],
                                            "status": "reviewed"})["items"]
    assert [f["id"] for f in found] == [form["id"]]
    detail = owner.get_inspection(inspection_id=form["id"])
    assert [line["quantity"] for line in detail["lines"]] == [3, 2]


def test_action_plans_collaborators_and_history(system, event_tap):
    _, a = _region(system)
    _, b = _region(system)
    tap = event_tap("channels", "collaborator_added")
    owner = _as(system, a["channel_owner"])
    store = _store(owner, _partner(owner)["id"], region="华东", brand_center="上海中心")
    plans = [owner.create_action_plan(data={"template": "store", "store_id": store["id"],
                                            "period": period, "title": f"{period} 提升计划"})
             for period in ("2026-07", "2026-08", "2026-09", "2026-10", "2026-11")]
    current = plans[-1]
    assert current["region"] == "华东" and current["store_code"] == store["code"]
    with pytest.raises(errors.Conflict):
        owner.create_action_plan(data={"template": "store", "store_id": store["id"],
                                       "period": "2026-11"})
    owner.add_action_plan_entry(plan_id=current["id"], data={
        "kind": "todo", "text": "补充陈列物料", "due": "2026-11-30"})
    history = owner.get_action_plan_history(plan_id=current["id"])["items"]
    assert [h["period"] for h in history] == ["2026-10", "2026-09", "2026-08"]
    with pytest.raises(errors.ValidationFailed):  # nobody from a sibling region
        owner.add_action_plan_collaborator(plan_id=current["id"],
                                           data={"user_id": b["field_sales"].user_id})
    sales = a["field_sales"]
    owner.add_action_plan_collaborator(plan_id=current["id"], data={"user_id": sales.user_id})
    event = tap.wait_for(lambda e: e["data"]["plan_id"] == current["id"])
    assert event["data"]["collaborator_id"] == sales.user_id
    assert event["data"]["owner_manager_id"] == a["region_manager"].user_id
    shared = _as(system, sales).get_action_plan(plan_id=current["id"])
    assert [e["text"] for e in shared["entries"]] == ["补充陈列物料"]


def _csv(rows) -> str:
    header = "门店编码,门店名称,渠道商编码,地址,纬度,经度,大区,状态\n"
    return header + "".join(",".join(map(str, r)) + "\n" for r in rows)


def _wait_job(channels, job_id) -> dict:
    job = {}

    def done():
        job.update(channels.get_import(import_id=job_id))
        return job["status"] in ("succeeded", "failed")
    assert wait_until(done, timeout=30), job
    return job


def test_store_import_is_all_or_nothing_and_not_repeated(system, event_tap):
    _, a = _region(system)
    tap = event_tap("channels", "stores_imported")
    owner = _as(system, a["channel_owner"])
    partner = _partner(owner)
    good = [(unique("IM"), f"门店{i}", partner["code"], "杭州市西湖区", 30.25, 120.15, "华东",
             "营业") for i in range(300)]
    bad = good[:5] + [(unique("IM"), "坏行", "NO-SUCH-PARTNER", "", 30, 120, "", ""),
                      (unique("IM"), "坏行", partner["code"], "", 95, 120, "", "")]
    failed = _wait_job(owner, owner.import_stores(data={
        "filename": "bad.csv", "content_base64": base64.b64encode(
            _csv(bad).encode("gbk")).decode()})["id"])
    assert failed["status"] == "failed" and failed["imported"] == 0
    assert {(e["row"], e["field"]) for e in failed["errors"]} == {
        (7, "partner_code"), (8, "lat")}
    assert owner.list_stores(query={"partner_id": partner["id"]})["items"] == []

    content = base64.b64encode(_csv(good).encode("utf-8-sig")).decode()
    job = owner.import_stores(data={"filename": "good.csv", "content_base64": content})
    done = _wait_job(owner, job["id"])
    assert (done["status"], done["total"], done["imported"]) == ("succeeded", 300, 300)
    again = owner.import_stores(data={"filename": "good.csv", "content_base64": content})
    assert again["id"] == job["id"]
    listed = owner.list_stores(query={"partner_id": partner["id"], "limit": "500"})["items"]
    assert len(listed) == 300 and listed[0]["owner_id"] == a["channel_owner"].user_id
    assert wait_until(lambda: sum(len(e["data"]["stores"]) for e in tap.drain()) == 300)
    # Events carry each store as `get_store` shows it (built without the schema, for speed).
    announced = tap.seen[0]["data"]["stores"][0]
    assert announced == owner.get_store(store_id=announced["id"])
    # The same rows in another file are duplicates of the database now: nothing imported.
    clash = _wait_job(owner, owner.import_stores(data={
        "content_base64": base64.b64encode(_csv(good[:2]).encode()).decode()})["id"])
    assert clash["status"] == "failed" and {e["field"] for e in clash["errors"]} == {"code"}


def test_reassigned_records_and_moved_units_follow_their_owner(system):
    region, a = _region(system)
    accounts = system(ADMIN, "accounts")
    owner = _as(system, a["channel_owner"])
    store = _store(owner, _partner(owner)["id"])
    accounts.reassign_user_records(user_id=a["channel_owner"].user_id,
                                   data={"to_user_id": a["field_sales"].user_id})
    manager = _as(system, a["region_manager"])
    assert wait_until(lambda: manager.get_store(store_id=store["id"])["owner_id"]
                      == a["field_sales"].user_id)
    # A city moves to another region: its people's records go with them.
    city = accounts.create_org_unit(data={"name": "杭州", "kind": "city",
                                          "parent_id": region["id"]})
    city_owner = accounts.create_user(data={
        "username": unique("co"), "password": "a-good-password", "display_name": "城市渠道",
        "roles": ["channel_owner"], "org_unit_id": city["id"],
        "manager_id": a["region_manager"].user_id})
    city_store = _store(_as(system, _caller(city_owner, city)),
                        _partner(_as(system, _caller(city_owner, city)))["id"])
    other, b = _region(system)
    accounts.update_org_unit(org_unit_id=city["id"], data={"parent_id": other["id"]})
    b_manager = _as(system, b["region_manager"])
    assert wait_until(lambda: [s["id"] for s in b_manager.list_stores()["items"]]
                      == [city_store["id"]])
    with pytest.raises(errors.NotFound):
        manager.get_store(store_id=city_store["id"])


def test_events_published_before_the_first_start_wait_in_declared_queues(migrated,
                                                                        start_service):
    """The migrate step declares every consumer queue, so events published before a
    service ever ran are not dropped by the broker."""
    from kombu import Connection
    from sqlalchemy import create_engine, select

    from crmkit.bus import declare_event_queues, event_queues, service_class
    from crmkit.database import utcnow
    from crmkit.directory import directory_users
    from crmkit.outbox import EventPublisher
    from crmkit.settings import bus_settings, database_settings

    migrated("channels")
    config = bus_settings().nameko_config()
    with Connection(config["AMQP_URI"]) as connection:  # as if channels never ran here
        channel = connection.channel()
        for queue in event_queues(service_class("channels"), config):
            queue(channel).delete()
    assert any("user_created" in name for name in declare_event_queues(["channels"]))
    user_id = int(uuid.uuid4().int % 10**12) + 10**12
    publisher = EventPublisher(config["AMQP_URI"], "accounts")
    publisher.publish({"event_id": str(uuid.uuid4()), "type": "user_created", "version": 1,
                       "occurred_at": utcnow().isoformat(), "actor": {}, "data": {
                           "user": {"id": user_id, "display_name": "早到", "org_unit_id": 1,
                                    "manager_id": None, "roles": ["analyst"],
                                    "active": True}, "org_path": "/1/"}}, None)
    publisher.close()
    start_service(ChannelsService)
    engine = create_engine(database_settings("channels").url)
    with engine.connect() as conn:
        assert wait_until(lambda: conn.execute(select(directory_users.c.display_name).where(
            directory_users.c.user_id == user_id)).scalar() == "早到")
    engine.dispose()


def test_an_import_that_keeps_failing_ends_failed_not_running(migrated):
    """The last attempt of a job that fails unexpectedly marks it failed (and nothing is
    imported) instead of leaving it `running` for ever."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import sessionmaker

    from channels.models import ImportJob, Store
    from channels.store_import import run_store_import
    from crmkit.database import UnitOfWork
    from crmkit.directory import UserDirectory
    from crmkit.settings import database_settings

    migrated("channels")
    engine = create_engine(database_settings("channels").url)
    factory = sessionmaker(engine)
    code = unique("F")
    with factory.begin() as session:
        job = ImportJob(kind="stores", sha256=uuid.uuid4().hex, size=1, created_by=1,
                        content=f"code,name,partner_code,owner_id\n{code},店,P1,987654\n"
                        .encode())
        session.add(job)
        session.flush()
        job_id = job.id

    def accounts_down(user_ids):
        raise RuntimeError("accounts is down")
    for attempt in (1, 2):
        unit = UnitOfWork(factory, {}, "channels")
        unit.act_as(ADMIN)
        with pytest.raises(RuntimeError):
            run_store_import(unit, UserDirectory(unit, accounts_down), job_id, max_attempts=2)
        unit.rollback()
        unit.close()
        with factory() as session:
            status = session.get(ImportJob, job_id).status
            assert status == ("running" if attempt == 1 else "failed")
            assert session.execute(select(Store).where(Store.code == code)).first() is None
    engine.dispose()


def test_field_rules_come_from_accounts_table(system):
    _, a = _region(system)
    owner = _as(system, a["channel_owner"])
    partner = _partner(owner)
    with pytest.raises(errors.Forbidden):  # the shipped default: read-only for owners
        owner.update_partner(partner_id=partner["id"], data={"credit_limit": "100"})
    accounts = system(ADMIN, "accounts")
    rule = {"role": "channel_owner", "resource": "partner", "field": "credit_limit"}
    accounts.set_field_permissions(data={"items": [{**rule, "rule": None}]})
    try:
        def writable():
            try:
                owner.update_partner(partner_id=partner["id"], data={"credit_limit": "100"})
                return True
            except errors.Forbidden:
                return False
        assert wait_until(writable)
    finally:
        accounts.set_field_permissions(data={"items": [{**rule, "rule": "read_only"}]})


def test_a_failed_import_runs_again_when_the_same_file_comes_back(system):
    _, a = _region(system)
    owner = _as(system, a["channel_owner"])
    code = unique("LATE")
    content = base64.b64encode(_csv([(unique("R"), "晚到门店", code, "杭州", 30.2, 120.1,
                                      "华东", "营业")]).encode()).decode()
    failed = _wait_job(owner, owner.import_stores(data={"content_base64": content})["id"])
    assert [e["field"] for e in failed["errors"]] == ["partner_code"]
    owner.create_partner(data={"code": code, "name": "后建渠道", "kind": "chain"})
    again = _wait_job(owner, owner.import_stores(data={"content_base64": content})["id"])
    assert again["id"] == failed["id"] and again["status"] == "succeeded"
    assert again["imported"] == 1 and again["errors"] == []


def test_plans_and_forms_go_to_direct_reports_only(system):
    region, a = _region(system)
    junior = system(ADMIN, "accounts").create_user(data={
        "username": unique("jr"), "password": "a-good-password", "display_name": "junior",
        "roles": ["channel_owner"], "org_unit_id": region["id"],
        "manager_id": a["channel_owner"].user_id})
    owner = _as(system, a["channel_owner"])
    partner = _partner(owner)
    store = _store(owner, partner["id"])
    manager = _as(system, a["region_manager"])
    with pytest.raises(errors.Forbidden) as plan:  # the junior reports to the owner
        manager.create_action_plan(data={"template": "store", "store_id": store["id"],
                                         "period": "2026-10", "owner_id": junior["id"]})
    assert plan.value.code == "skip_level"
    with pytest.raises(errors.Forbidden):
        manager.create_inspection(data={"partner_id": partner["id"], "month": "2026-10",
                                        "owner_id": junior["id"]})
    assert owner.create_action_plan(data={"template": "store", "store_id": store["id"],
                                          "period": "2026-10", "owner_id": junior["id"]})


def test_a_read_before_any_field_rules_copy_asks_accounts_and_answers(system):
    """list_partners is read-only: with no copy of the field rules yet (a fresh database,
    nothing written) it uses accounts' answer without keeping it, and answers."""
    from sqlalchemy import create_engine, func, select

    from crmkit.field_rules import field_rules_snapshot
    from crmkit.settings import database_settings
    engine = create_engine(database_settings("channels").url)
    try:
        with engine.begin() as conn:
            conn.execute(field_rules_snapshot.delete())
        _, a = _region(system)
        sales = _as(system, a["field_sales"])
        assert sales.list_partners(query={})["items"] == []
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(
                field_rules_snapshot)).scalar() == 0
    finally:
        engine.dispose()
