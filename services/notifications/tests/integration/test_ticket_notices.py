"""After-sales events reach the repair partner's staff: a ticket dispatched to them, a
parts order approved, a ticket overdue; in each recipient's language."""
import random

import pytest
from sqlalchemy import create_engine, text

from accounts.service import AccountsService
from crmkit.context import Caller
from crmkit.settings import database_settings
from crmkit.testing import ADMIN, unique, wait_until
from notifications.service import NotificationsService
from service_tickets.service import ServiceTicketsService

AGENT = Caller(user_id=9001, roles=frozenset({"service_agent"}), org_path="/1/")


@pytest.fixture
def system(migrated, start_service, rpc_as):
    for service in ("accounts", "service_tickets", "notifications"):
        migrated(service)
    from accounts.bootstrap import bootstrap
    bootstrap("admin-test-password")
    for service_cls in (AccountsService, ServiceTicketsService, NotificationsService):
        start_service(service_cls)
    return rpc_as


def _kinds(rpc_as, caller) -> list[str]:
    return [n["kind"] for n in
            rpc_as(caller, "notifications").list_notifications(query={})["items"]]


def test_partner_staff_hear_of_dispatch_orders_and_breaches(system):
    rpc_as = system
    partner_id = random.randint(10_000_000, 2**40)
    staff = {}
    for locale in ("en", "zh-CN"):
        user = rpc_as(ADMIN, "accounts").create_user(data={
            "username": unique("fix"), "password": "a-good-password", "display_name": "维修",
            "roles": ["repair_partner"], "org_unit_id": 1, "manager_id": 1,
            "partner_id": partner_id, "locale": locale})
        staff[locale] = Caller(user_id=user["id"], roles=frozenset({"repair_partner"}),
                               org_path="/1/", partner_id=partner_id)
    tickets, admin = rpc_as(AGENT, "service_tickets"), rpc_as(ADMIN, "service_tickets")
    centre = admin.create_service_center(data={"partner_id": partner_id, "name": "维修中心",
                                               "region": "华北"})
    consumer = tickets.create_consumer(data={"name": "赵六", "phone": "13700001234"})
    ticket = tickets.open_ticket(data={"consumer_id": consumer["id"], "channel": "call_center",
                                       "fault_description": "听筒无声", "auto_dispatch": False})
    tickets.transition_ticket(ticket["id"], data={"to": "assigned",
                                                  "service_center_id": centre["id"]})
    assert wait_until(lambda: _kinds(rpc_as, staff["en"]) == ["ticket_dispatched"])
    inbox = rpc_as(staff["zh-CN"], "notifications").list_notifications(query={})["items"]
    assert inbox[0]["title"] == "新的维修工单" and "听筒无声" in inbox[0]["body"]
    assert inbox[0]["related"] == {"resource": "ticket", "id": ticket["id"]}

    part = admin.create_part(data={"code": unique("P"), "name": "听筒", "unit_price": "15.00"})
    warehouse = admin.create_warehouse(data={"code": unique("W"), "name": "北京仓"})
    admin.adjust_stock(data={"warehouse_id": warehouse["id"], "part_id": part["id"],
                             "qty": 3, "reason": "入库"})
    order = rpc_as(staff["en"], "service_tickets").submit_parts_order(data={
        "warehouse_id": warehouse["id"], "lines": [{"part_id": part["id"], "qty": 1}]})
    tickets.transition_parts_order(order["id"], data={"to": "approved"})
    assert wait_until(lambda: _kinds(rpc_as, staff["en"])[0] == "parts_order_approved")

    engine = create_engine(database_settings("service_tickets").url)

    def shift(statement: str) -> None:
        with engine.begin() as conn:
            conn.execute(text(statement), {"id": ticket["id"]})
    shift("UPDATE tickets SET sla_warn_at = now() - interval '1 minute' WHERE id = :id")
    assert wait_until(lambda: _kinds(rpc_as, staff["zh-CN"])[0] == "ticket_sla_warning")
    shift("UPDATE tickets SET due_at = now() - interval '1 hour' WHERE id = :id")
    assert wait_until(lambda: _kinds(rpc_as, staff["zh-CN"])[0] == "ticket_sla_breached")
    engine.dispose()
    assert _kinds(rpc_as, staff["en"]) == ["ticket_sla_breached", "ticket_sla_warning",
                                           "parts_order_approved", "ticket_dispatched"]
