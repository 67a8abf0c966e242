"""The visits service over real RPC with its real database; stores come from the real
channels service through its events, people from accounts."""
from datetime import UTC, datetime, timedelta

import pytest

from accounts.service import AccountsService
from channels.service import ChannelsService
from crmkit import errors
from crmkit.context import Caller
from crmkit.testing import ADMIN, unique, wait_until

SHANGHAI = (31.2304, 121.4737)


@pytest.fixture
def system(object_store, migrated, start_service, rpc_as):
    for service in ("accounts", "channels", "visits"):
        migrated(service)
    from accounts.bootstrap import bootstrap
    from visits.service import VisitsService
    bootstrap("admin-test-password")
    for service_cls in (AccountsService, ChannelsService, VisitsService):
        start_service(service_cls)
    return rpc_as


def _team(rpc_as):
    """A region: manager -> channel owner (owns the stores) and manager -> sales -> junior."""
    accounts = rpc_as(ADMIN, "accounts")
    region = accounts.create_org_unit(data={"name": unique("大区"), "kind": "region",
                                            "parent_id": 1})
    made = {}
    for key, role, manager in (("manager", "region_manager", None),
                               ("owner", "channel_owner", "manager"),
                               ("sales", "field_sales", "manager"),
                               ("junior", "field_sales", "sales")):
        user = accounts.create_user(data={
            "username": unique(key), "password": "a-good-password", "display_name": key,
            "roles": [role], "org_unit_id": region["id"],
            "manager_id": made[manager].user_id if manager else 1})
        made[key] = Caller(user_id=user["id"], roles=frozenset([role]),
                           org_unit_id=region["id"], org_path=region["path"])
    return made


def _stores(rpc_as, owner):
    channels = rpc_as(owner, "channels")
    partner = channels.create_partner(data={"code": unique("P"), "name": "渠道商",
                                            "kind": "chain"})
    located = channels.create_store(data={
        "code": unique("S"), "name": "人民广场店", "partner_id": partner["id"],
        "address": "上海市黄浦区人民大道", "lat": SHANGHAI[0], "lon": SHANGHAI[1]})
    nowhere = channels.create_store(data={"code": unique("S"), "name": "无地址店",
                                          "partner_id": partner["id"]})
    return located, nowhere


def _planned(visits, store_id, **extra):
    """Plan a visit once the store's event has reached visits' read copy."""
    reply = {}

    def planned():
        try:
            reply.update(visits.create_visit(data={
                "store_id": store_id, "planned_at": datetime.now(UTC).isoformat(), **extra}))
            return True
        except errors.ValidationFailed:
            return False
    assert wait_until(planned), "the store never reached visits"
    return reply


def test_plans_go_to_oneself_or_direct_reports_only(system):
    team = _team(system)
    located, nowhere = _stores(system, team["owner"])
    manager = system(team["manager"], "visits")
    visit = _planned(manager, located["id"], user_id=team["sales"].user_id)
    assert visit["user_id"] == team["sales"].user_id and visit["status"] == "planned"
    with pytest.raises(errors.Forbidden) as skip:  # the junior reports to sales, not to them
        manager.create_visit(data={"store_id": located["id"], "user_id": team["junior"].user_id,
                                   "planned_at": datetime.now(UTC).isoformat()})
    assert skip.value.code == "skip_level"
    with pytest.raises(errors.Conflict) as no_location:
        _planned(manager, nowhere["id"])
    assert no_location.value.code == "store_not_visitable"
    sales = system(team["sales"], "visits")
    assert sales.get_visit(visit_id=visit["id"])["id"] == visit["id"]
    with pytest.raises(errors.NotFound):  # visits are personal: peers do not see them
        system(team["owner"], "visits").get_visit(visit_id=visit["id"])


def test_check_in_distance_fraud_and_trajectory(system):
    team = _team(system)
    located, _ = _stores(system, team["owner"])
    sales = system(team["sales"], "visits")
    first, second = (_planned(sales, located["id"]) for _ in range(2))
    now = datetime.now(UTC).replace(microsecond=0)
    with pytest.raises(errors.Forbidden):  # nobody checks in on someone else's visit
        system(team["manager"], "visits").check_in(visit_id=first["id"], data={
            "lat": SHANGHAI[0], "lon": SHANGHAI[1], "accuracy_m": 10, "at": now.isoformat()})
    with pytest.raises(errors.ValidationFailed) as bad:
        sales.check_in(visit_id=first["id"], data={"lat": 91, "lon": 200, "accuracy_m": -1,
                                                   "at": "yesterday"})
    assert set(bad.value.fields) == {"lat", "lon", "accuracy_m", "at"}
    near = sales.check_in(visit_id=first["id"], data={
        "lat": SHANGHAI[0] + 0.001, "lon": SHANGHAI[1], "accuracy_m": 12,
        "at": (now - timedelta(minutes=30)).isoformat()})
    assert near["within_radius"] is True and 100 < near["distance_m"] < 125
    assert near["signals"] == []
    with pytest.raises(errors.Conflict):
        sales.check_in(visit_id=first["id"], data={
            "lat": SHANGHAI[0], "lon": SHANGHAI[1], "accuracy_m": 12, "at": now.isoformat()})
    # Beijing half an hour later: outside the radius and an impossible trip.
    far = sales.check_in(visit_id=second["id"], data={
        "lat": 39.9042, "lon": 116.4074, "accuracy_m": 20, "at": now.isoformat()})
    assert far["within_radius"] is False
    assert sorted(far["signals"]) == ["impossible_speed", "outside_radius"]
    seen = system(team["manager"], "visits").get_visit(visit_id=second["id"])
    assert {s["kind"] for s in seen["fraud_signals"]} == {"impossible_speed", "outside_radius"}
    day = system(team["manager"], "visits").get_trajectory(
        user_id=team["sales"].user_id, query={"date": now.astimezone(UTC).date().isoformat(),
                                              "tz": "UTC"})
    assert [p["visit_id"] for p in day["points"]] == [first["id"], second["id"]]
    assert day["points"][1]["minutes_from_previous"] == 30.0
    assert 1_000_000 < day["total_m"] < 1_100_000
    with pytest.raises(errors.NotFound):  # a peer is not above them
        system(team["owner"], "visits").get_trajectory(
            user_id=team["sales"].user_id, query={"date": "2026-11-23"})


def test_check_out_details_follow_the_visit_type_and_targets_count(system, event_tap):
    team = _team(system)
    located, _ = _stores(system, team["owner"])
    visit_type = system(ADMIN, "visits").create_visit_type(data={
        "code": unique("shelf_"), "name": "陈列检查", "fields": [
            {"name": "stock_count", "label": "库存", "type": "integer", "required": True,
             "min": 0},
            {"name": "expiry", "label": "最早到期日", "type": "date"},
            {"name": "vi", "label": "VI 合规", "type": "checklist",
             "choices": ["门头", "灯箱", "价签"]}]})
    sales = system(team["sales"], "visits")
    visit = _planned(sales, located["id"], visit_type_id=visit_type["id"])
    sales.check_in(visit_id=visit["id"], data={
        "lat": SHANGHAI[0], "lon": SHANGHAI[1], "accuracy_m": 5,
        "at": datetime.now(UTC).isoformat()})
    with pytest.raises(errors.ValidationFailed) as wrong:
        sales.check_out(visit_id=visit["id"], data={"details": {
            "stock_count": -3, "vi": {"门头": True, "招牌": False}, "colour": "red"}})
    assert {"details.stock_count", "details.colour"} <= set(wrong.value.fields)
    done = sales.check_out(visit_id=visit["id"], data={
        "feedback": "陈列良好", "needs": "补货", "details": {
            "stock_count": 40, "expiry": "2027-03-01", "vi": {"门头": True, "灯箱": False}}})
    assert done["status"] == "completed" and done["details"]["expiry"] == "2027-03-01"
    month = datetime.now(UTC).strftime("%Y-%m")
    manager = system(team["manager"], "visits")
    tap = event_tap("visits", "visit_target_set")
    target = manager.set_visit_target(data={"user_id": team["sales"].user_id, "month": month,
                                            "target": 22, "adjustment": -2, "note": "出差"})
    assert (target["effective_target"], target["completed"]) == (20, 1)
    published = tap.wait_for(lambda e: e["data"]["target_id"] == target["id"])
    assert published is not None, "visit_target_set was not published"
    assert {k: published["data"][k] for k in ("user_id", "month", "target", "adjustment",
                                              "effective_target", "set_by")} == {
        "user_id": team["sales"].user_id, "month": month, "target": 22, "adjustment": -2,
        "effective_target": 20, "set_by": team["manager"].user_id}
    with pytest.raises(errors.Forbidden):  # the junior is not the manager's direct report
        manager.set_visit_target(data={"user_id": team["junior"].user_id, "month": month,
                                       "target": 10})
    mine = sales.list_visit_targets(query={"month": month})["items"]
    assert [t["progress"] for t in mine] == [0.05]


def _jpeg(colour=(200, 30, 30)) -> bytes:
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def _checked_in(system, team):
    located, _ = _stores(system, team["owner"])
    sales = system(team["sales"], "visits")
    visit = _planned(sales, located["id"])
    sales.check_in(visit_id=visit["id"], data={
        "lat": SHANGHAI[0], "lon": SHANGHAI[1], "accuracy_m": 5,
        "at": datetime.now(UTC).isoformat()})
    return sales, visit


def test_photo_proof_through_object_storage(system):
    import hashlib

    import httpx
    team = _team(system)
    sales, visit = _checked_in(system, team)
    photo = _jpeg()
    declared = {"content_type": "image/jpeg", "size": len(photo),
                "sha256": hashlib.sha256(photo).hexdigest(), "source": "camera"}
    with pytest.raises(errors.ValidationFailed) as gallery:  # camera only by default
        sales.create_photo_slot(visit_id=visit["id"], data={**declared, "source": "gallery"})
    assert "source" in gallery.value.fields
    with pytest.raises(errors.ValidationFailed) as huge:  # refused before any URL exists
        sales.create_photo_slot(visit_id=visit["id"], data={**declared, "size": 50 << 20})
    assert "size" in huge.value.fields
    slot = sales.create_photo_slot(visit_id=visit["id"], data=declared)
    with pytest.raises(errors.Conflict) as missing:
        sales.confirm_photo(visit_id=visit["id"], photo_id=slot["photo_id"])
    assert missing.value.code == "photo_missing"
    other = _jpeg((10, 200, 10))
    assert httpx.put(slot["upload_url"], content=other,
                     headers={"Content-Type": "image/jpeg"}).status_code == 200
    with pytest.raises(errors.Conflict) as different:
        sales.confirm_photo(visit_id=visit["id"], photo_id=slot["photo_id"])
    assert different.value.code == "photo_mismatch"
    assert httpx.put(slot["upload_url"], content=photo,
                     headers={"Content-Type": "image/jpeg"}).status_code == 200
    confirmed = sales.confirm_photo(visit_id=visit["id"], photo_id=slot["photo_id"])
    again = sales.confirm_photo(visit_id=visit["id"], photo_id=slot["photo_id"])
    assert confirmed["status"] == again["status"] == "confirmed"
    assert httpx.get(confirmed["download_url"]).content == photo
    seen = system(team["manager"], "visits").get_photo(visit_id=visit["id"],
                                                       photo_id=slot["photo_id"])
    assert seen["sha256"] == declared["sha256"]
    # The same picture on another visit is a fraud signal.
    sales2, visit2 = _checked_in(system, team)
    slot2 = sales2.create_photo_slot(visit_id=visit2["id"], data=declared)
    httpx.put(slot2["upload_url"], content=photo, headers={"Content-Type": "image/jpeg"})
    sales2.confirm_photo(visit_id=visit2["id"], photo_id=slot2["photo_id"])
    kinds = {s["kind"] for s in sales2.get_visit(visit_id=visit2["id"])["fraud_signals"]}
    assert "photo_reused" in kinds


def test_unconfirmed_slots_are_swept_with_their_bytes(system):
    import hashlib

    import httpx
    from sqlalchemy import update
    from sqlalchemy.orm import sessionmaker

    from crmkit.database import UnitOfWork, make_engine, utcnow
    from crmkit.settings import database_settings
    from visits.models import Photo
    from visits.photos import sweep_expired
    from visits.storage import PhotoStore, make_client, photo_bucket
    team = _team(system)
    sales, visit = _checked_in(system, team)
    photo = _jpeg()
    slot = sales.create_photo_slot(visit_id=visit["id"], data={
        "content_type": "image/jpeg", "size": len(photo),
        "sha256": hashlib.sha256(photo).hexdigest(), "source": "camera"})
    httpx.put(slot["upload_url"], content=photo, headers={"Content-Type": "image/jpeg"})
    engine = make_engine(database_settings("visits"))
    factory = sessionmaker(engine)
    with factory.begin() as session:  # as if its upload URL expired an hour ago
        key = session.execute(update(Photo).where(Photo.id == slot["photo_id"]).values(
            upload_expires_at=utcnow() - timedelta(hours=1)).returning(Photo.object_key)
        ).scalar_one()
    store = PhotoStore(make_client(), photo_bucket())
    assert store.inspect(key, 10**7) is not None
    unit = UnitOfWork(factory, {}, "visits")
    assert sweep_expired(unit, store) >= 1
    unit.commit()
    unit.close()
    with pytest.raises(errors.NotFound):
        sales.get_photo(visit_id=visit["id"], photo_id=slot["photo_id"])
    assert store.inspect(key, 10**7) is None
    engine.dispose()


def test_customer_visits_follow_merges_and_show_in_the_timeline(system):
    team = _team(system)
    sales = team["sales"]
    accounts = system(sales, "accounts")
    place = {"address": "上海市浦东新区世纪大道100号", "lat": SHANGHAI[0], "lon": SHANGHAI[1]}
    target = accounts.create_customer(data={"name": unique("浦东客户"), **place},
                                      query={"allow_duplicate": "true"})
    source = accounts.create_customer(data={"name": unique("重复客户"), **place},
                                      query={"allow_duplicate": "true"})
    nowhere = accounts.create_customer(data={"name": unique("无地址客户")},
                                       query={"allow_duplicate": "true"})
    visits = system(sales, "visits")
    visit = {}

    def planned():
        try:
            visit.update(visits.create_visit(data={
                "customer_id": source["id"], "planned_at": datetime.now(UTC).isoformat()}))
            return True
        except errors.ValidationFailed:
            return False
    assert wait_until(planned)
    refusal = []

    def refused():  # once the customer's event has arrived, the refusal is a 409
        try:
            visits.create_visit(data={"customer_id": nowhere["id"],
                                      "planned_at": datetime.now(UTC).isoformat()})
        except errors.Conflict as exc:
            refusal.append(exc.code)
        except errors.ValidationFailed:
            return False
        return True
    assert wait_until(refused) and refusal == ["customer_not_visitable"]
    with pytest.raises(errors.ValidationFailed):  # a peer's customer is not theirs to visit
        system(team["junior"], "visits").create_visit(data={
            "customer_id": target["id"], "planned_at": datetime.now(UTC).isoformat()})
    checked = visits.check_in(visit_id=visit["id"], data={
        "lat": SHANGHAI[0], "lon": SHANGHAI[1], "accuracy_m": 5,
        "at": datetime.now(UTC).isoformat()})
    assert checked["within_radius"] is True
    accounts.merge_customers(customer_id=target["id"], data={"source_id": source["id"]})
    assert wait_until(lambda: visits.get_visit(visit_id=visit["id"])["customer_id"]
                      == target["id"])
    timeline = accounts.get_customer_timeline(customer_id=target["id"])
    assert timeline["partial"] is False
    assert "visit_checked_in" in [e["kind"] for e in timeline["items"]]
