"""Events of the real services become inbox notices for the right people, in their
language, once per event however often it is delivered."""
import time
import uuid

import pytest

from accounts.service import AccountsService
from channels.service import ChannelsService
from crmkit import errors
from crmkit.context import Caller
from crmkit.testing import ADMIN, unique, wait_until
from notifications.service import NotificationsService


@pytest.fixture
def system(migrated, start_service, rpc_as):
    for service in ("accounts", "channels", "notifications"):
        migrated(service)
    from accounts.bootstrap import bootstrap
    bootstrap("admin-test-password")
    for service_cls in (AccountsService, ChannelsService, NotificationsService):
        start_service(service_cls)
    return rpc_as


def _team(rpc_as):
    accounts = rpc_as(ADMIN, "accounts")
    region = accounts.create_org_unit(data={"name": unique("大区"), "kind": "region",
                                            "parent_id": 1})
    made, manager_id = {}, 1
    for key, role, locale in (("manager", "region_manager", "en"),
                              ("owner", "channel_owner", "zh-CN"),
                              ("sales", "field_sales", "en")):
        user = accounts.create_user(data={
            "username": unique(key), "password": "a-good-password", "display_name": key,
            "roles": [role], "org_unit_id": region["id"], "manager_id": manager_id,
            "locale": locale})
        made[key] = Caller(user_id=user["id"], roles=frozenset([role]),
                           org_unit_id=region["id"], org_path=region["path"])
        if key == "manager":
            manager_id = user["id"]
    return made


def _inbox(rpc_as, caller, **query):
    return rpc_as(caller, "notifications").list_notifications(query=query)


def test_collaborator_and_inspection_notices(system, event_tap):
    team = _team(system)
    owner = system(team["owner"], "channels")
    partner = owner.create_partner(data={"code": unique("P"), "name": "华南渠道",
                                         "kind": "chain"})
    store = owner.create_store(data={"code": unique("S"), "name": "店", "partner_id":
                                     partner["id"], "address": "广州", "lat": 23.1,
                                     "lon": 113.2})
    plan = owner.create_action_plan(data={"template": "store", "store_id": store["id"],
                                          "period": "2026-11", "title": "双十一备货"})
    tap = event_tap("channels", "collaborator_added")
    owner.add_action_plan_collaborator(plan_id=plan["id"],
                                       data={"user_id": team["sales"].user_id})
    assert wait_until(lambda: _inbox(system, team["sales"])["unread_count"] == 1)
    notice = _inbox(system, team["sales"])["items"][0]
    assert notice["title"] == "Added to an action plan" and "双十一备货" in notice["body"]
    assert notice["related"] == {"resource": "action_plan", "id": plan["id"]}
    # The owner's manager is told too (in English, their locale).
    assert wait_until(lambda: any(n["kind"] == "collaborator_added_manager"
                                  for n in _inbox(system, team["manager"])["items"]))

    # The same event delivered again changes nothing.
    from crmkit.outbox import EventPublisher
    from crmkit.settings import bus_settings
    event = tap.wait_for(lambda e: e["data"]["plan_id"] == plan["id"])
    publisher = EventPublisher(bus_settings().amqp_uri, "channels")
    publisher.publish(event, None)
    publisher.close()
    form = system(team["manager"], "channels").create_inspection(data={
        "partner_id": partner["id"], "month": "2026-11", "store_ids": [store["id"]]})
    owner.submit_inspection(inspection_id=form["id"])
    assert wait_until(lambda: any(n["kind"] == "inspection_submitted"
                                  for n in _inbox(system, team["manager"])["items"]))
    time.sleep(1)  # the repeated delivery has long been handled by now
    assert _inbox(system, team["sales"])["unread_count"] == 1

    inbox = system(team["sales"], "notifications")
    read = inbox.mark_notification_read(notification_id=notice["id"])
    assert read["read_at"] is not None
    assert inbox.list_notifications(query={"unread": "true"})["items"] == []
    with pytest.raises(errors.NotFound):  # nobody reads another's inbox
        system(team["owner"], "notifications").mark_notification_read(
            notification_id=notice["id"])


def test_reminders_fire_once_with_two_replicas_and_repeat(system, start_service):
    from datetime import UTC, datetime, timedelta
    start_service(NotificationsService)  # a second replica beside the fixture's one
    team = _team(system)
    mine = system(team["sales"], "notifications")
    with pytest.raises(errors.ValidationFailed) as past:
        mine.create_reminder(data={"subject": "回访", "due_at": "2020-01-01T09:00:00+08:00"})
    assert "due_at" in past.value.fields
    with pytest.raises(errors.ValidationFailed) as rule:
        mine.create_reminder(data={"subject": "回访", "repeat": "hourly",
                                   "due_at": datetime.now(UTC).isoformat()})
    assert "repeat" in rule.value.fields
    soon = datetime.now(UTC) + timedelta(seconds=1)
    reminders = [mine.create_reminder(data={"subject": f"回访客户{i}",
                                            "due_at": soon.isoformat()}) for i in range(20)]
    weekly = mine.create_reminder(data={"subject": "周报", "repeat": "weekly",
                                        "due_at": soon.isoformat()})
    assert wait_until(lambda: _inbox(system, team["sales"], limit="100")["unread_count"]
                      == len(reminders) + 1)
    time.sleep(1)  # both replicas ticked several times more
    items = _inbox(system, team["sales"], limit="100")["items"]
    assert len(items) == len(reminders) + 1
    assert {i["title"] for i in items} >= {"Reminder: 回访客户0", "Reminder: 周报"}
    listed = {r["id"]: r for r in mine.list_reminders(query={"limit": "100"})["items"]}
    assert listed[reminders[0]["id"]]["status"] == "done"
    again = listed[weekly["id"]]
    assert again["status"] == "active" and again["fired_count"] == 1
    assert again["next_fire_at"][:10] == (soon + timedelta(weeks=1)).date().isoformat()
    assert mine.finish_reminder(reminder_id=weekly["id"])["next_fire_at"] is None


def test_monthly_push_reaches_each_open_form_once(system):
    from datetime import UTC, datetime

    from sqlalchemy import select
    from sqlalchemy.orm import sessionmaker

    from crmkit.database import UnitOfWork, make_engine
    from crmkit.directory import UserDirectory
    from crmkit.settings import database_settings
    from notifications.models import InspectionCopy
    from notifications.schedules import push_open_inspections
    from notifications.settings import NotificationSettings
    team = _team(system)
    owner = system(team["owner"], "channels")
    partner = owner.create_partner(data={"code": unique("P"), "name": "月推渠道",
                                         "kind": "chain"})
    month = f"2031-{uuid.uuid4().int % 12 + 1:02d}"  # a month no other test uses
    system(team["manager"], "channels").create_inspection(data={
        "partner_id": partner["id"], "month": month})
    engine = make_engine(database_settings("notifications"))
    factory = sessionmaker(engine)
    push_day = NotificationSettings(tick_s=1, push_day=10, time_zone="Asia/Shanghai")
    on_the_day = datetime(int(month[:4]), int(month[5:]), 12, 3, tzinfo=UTC)

    def push() -> int:
        unit = UnitOfWork(factory, {}, "notifications")
        try:
            people = UserDirectory(unit, lambda ids: system(
                ADMIN, "accounts").get_directory_entries(data={"user_ids": ids}))
            return push_open_inspections(unit, people, push_day, on_the_day)
        finally:
            unit.commit()
            unit.close()
    def form_known() -> bool:
        with factory() as session:
            return session.execute(select(InspectionCopy).where(
                InspectionCopy.month == month)).first() is not None
    assert wait_until(form_known)  # the form's event has reached notifications
    assert push() == 1
    assert push() == 0  # the month's push has run
    titles = [n["title"] for n in _inbox(system, team["owner"], limit="100")["items"]]
    assert titles.count("请填写本月渠道点检单") == 1
    engine.dispose()
