"""service_tickets over real RPC with its real database; events read off the real broker."""
import random
import uuid

import eventlet
import pytest
from sqlalchemy import create_engine, text

from crmkit import errors
from crmkit.context import Caller
from crmkit.settings import database_settings
from crmkit.testing import ADMIN, unique
from service_tickets.service import ServiceTicketsService
from service_tickets.testing import AGENT, SALES, new_imei, partner_user, random_partner_id


@pytest.fixture
def tickets(migrated, start_service, rpc_as):
    migrated("service_tickets")
    start_service(ServiceTicketsService)
    return lambda caller: rpc_as(caller, "service_tickets")


def _centre(admin, region: str, partner_id: int | None = None, **extra) -> dict:
    return admin.create_service_center(data={
        "partner_id": partner_id or random_partner_id(), "name": unique("维修中心"),
        "region": region, **extra})


def _consumer_with_phone(agent, **product):
    consumer = agent.create_consumer(data={"name": "张三", "phone": "+86 138-0000-"
                                           + str(random.randint(1000, 9999)),
                                           "region": unique("华东")})
    device = agent.register_product(consumer["id"], data={
        "model": "X100", "product_line": "phone", "imei": new_imei(),
        "sold_at": "2026-06-01", "warranty_months": 24, **product})
    return consumer, device


def test_consumers_and_devices_register_once_with_a_valid_imei(tickets):
    agent = tickets(AGENT)
    consumer, device = _consumer_with_phone(agent, accessories=["充电器", "耳机"])
    assert consumer["name"] == "张三" and consumer["phone"].startswith("138")
    assert device["warranty_until"] == "2028-05-31" and device["accessories"] == ["充电器", "耳机"]

    with pytest.raises(errors.ValidationFailed) as bad:
        agent.register_product(consumer["id"], data={"model": "X", "imei": "490154203237517"})
    assert "imei" in bad.value.fields
    other = agent.create_consumer(data={"name": "李四", "phone": "13900001111"})
    with pytest.raises(errors.Conflict) as taken:
        agent.register_product(other["id"], data={"model": "X100", "imei": device["imei"]})
    assert taken.value.code == "already_registered"
    assert "another consumer" in taken.value.fields["imei"][0]

    found = agent.list_products(query={"imei": device["imei"]})["items"]
    assert [p["id"] for p in found] == [device["id"]]
    by_phone = agent.list_consumers(query={"phone": "+86" + consumer["phone"]})["items"]
    assert [c["id"] for c in by_phone] == [consumer["id"]]
    with pytest.raises(errors.Forbidden):
        tickets(SALES).list_consumers(query={"phone": consumer["phone"]})
    analyst = tickets(Caller(user_id=9003, roles=frozenset({"analyst"}), org_path="/1/"))
    assert analyst.get_consumer(consumer["id"])["phone"] == \
        consumer["phone"][:3] + "****" + consumer["phone"][-4:]
    with pytest.raises(errors.Forbidden):
        analyst.list_consumers(query={"phone": consumer["phone"]})
    with pytest.raises(errors.ValidationFailed) as nul:
        agent.list_products(query={"imei": "12\x003"})
    assert "imei" in nul.value.fields


def test_ticket_is_dispatched_worked_closed_and_surveyed(tickets, event_tap):
    admin, agent = tickets(ADMIN), tickets(AGENT)
    tap = event_tap("service_tickets", "ticket_opened", "ticket_status_changed",
                    "survey_answered")
    consumer, device = _consumer_with_phone(agent)
    region = consumer["region"]
    busy, free = _centre(admin, region, capacity=1), _centre(admin, region, capacity=5)
    admin.create_dispatch_rule(data={"priority": 1, "region": region,
                                     "service_center_ids": [busy["id"], free["id"]]})
    first = agent.open_ticket(data={"consumer_id": consumer["id"], "product_id": device["id"],
                                    "channel": "call_center", "fault_description": "屏幕不亮"})
    assert first["status"] == "assigned" and first["in_warranty"] is True
    # The least loaded centre with room takes the next one.
    second = agent.open_ticket(data={"consumer_id": consumer["id"], "channel": "call_center",
                                     "fault_description": "无法充电", "priority": "urgent"})
    assert {first["service_center_id"], second["service_center_id"]} == {busy["id"], free["id"]}

    owner = tickets(partner_user(first["partner_id"]))
    stranger = tickets(partner_user(random_partner_id()))
    with pytest.raises(errors.NotFound):
        stranger.get_ticket(first["id"])
    with pytest.raises(errors.Conflict) as skipped:
        owner.transition_ticket(first["id"], data={"to": "done"})
    assert skipped.value.code == "illegal_transition"
    for step in ("diagnosing", "repairing"):
        owner.transition_ticket(first["id"], data={"to": step})
    owner.add_worklog(first["id"], data={"text": "更换屏幕排线"})
    done = owner.transition_ticket(first["id"], data={"to": "done", "fault_code": "LCD-01",
                                                      "fault_cause": "排线松动"})
    assert done["fault_code"] == "LCD-01"
    with pytest.raises(errors.Forbidden):
        owner.transition_ticket(first["id"], data={"to": "closed"})
    closed = agent.transition_ticket(first["id"], data={"to": "closed", "note": "客户确认"})
    assert closed["closed_at"] is not None
    history = [h["to_status"] for h in agent.get_ticket_history(first["id"])["items"]]
    assert history == ["new", "assigned", "diagnosing", "repairing", "done", "closed"]
    kinds = [e["kind"] for e in agent.get_product_history(device["id"])["items"]]
    assert kinds == ["registered", "repaired"]

    survey = agent.get_ticket_survey(first["id"])
    answered = agent.answer_survey(survey["id"], data={"score": 5, "comment": "很满意"})
    assert answered["status"] == "answered"
    with pytest.raises(errors.Conflict):
        agent.answer_survey(survey["id"], data={"score": 1})
    assert tap.wait_for(lambda e: e["type"] == "survey_answered"
                        and e["data"]["ticket_id"] == first["id"])
    changes = [(e["data"]["from"], e["data"]["to"]) for e in tap.drain()
               if e["type"] == "ticket_status_changed"
               and e["data"]["ticket"]["id"] == first["id"]]
    assert changes == [("new", "assigned"), ("assigned", "diagnosing"),
                       ("diagnosing", "repairing"), ("repairing", "done"), ("done", "closed")]
    with pytest.raises(errors.Forbidden):
        tickets(SALES).get_ticket(first["id"])


def test_ticket_without_a_matching_centre_waits_and_overdue_tickets_breach(tickets, event_tap):
    agent = tickets(AGENT)
    tap = event_tap("service_tickets", "ticket_sla_breached")
    consumer, _ = _consumer_with_phone(agent)
    ticket = agent.open_ticket(data={"consumer_id": consumer["id"], "channel": "store",
                                     "fault_description": "外壳破裂", "region": unique("西北")})
    assert ticket["status"] == "new" and ticket["service_center_id"] is None
    with pytest.raises(errors.Conflict) as none:
        agent.transition_ticket(ticket["id"], data={"to": "assigned"})
    assert none.value.code == "no_service_center"
    engine = create_engine(database_settings("service_tickets").url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE tickets SET due_at = now() - interval '1 minute' "
                          "WHERE id = :id"), {"id": ticket["id"]})
    engine.dispose()
    breach = tap.wait_for(lambda e: e["data"]["ticket_id"] == ticket["id"])
    assert breach and breach["data"]["status"] == "new"
    assert agent.get_ticket(ticket["id"])["sla_breached_at"] is not None
    eventlet.sleep(1)
    assert len([e for e in tap.drain() if e["data"]["ticket_id"] == ticket["id"]]) == 1


def _stocked(admin, qty: int) -> tuple[dict, dict]:
    part = admin.create_part(data={"code": unique("P"), "name": "屏幕总成",
                                   "unit_price": "320.00", "models": ["X100"]})
    warehouse = admin.create_warehouse(data={"code": unique("WH"), "name": "华东仓",
                                             "kind": "branch"})
    admin.adjust_stock(data={"warehouse_id": warehouse["id"], "part_id": part["id"],
                             "qty": qty, "reason": "到货"})
    return part, warehouse


def _stock(caller_rpc, warehouse_id: int, part_id: int) -> dict:
    items = caller_rpc.list_stocks(query={"warehouse_id": warehouse_id,
                                          "part_id": part_id})["items"]
    return items[0] if items else {"on_hand": 0, "reserved": 0, "available": 0}


def test_parts_order_reserves_ships_receives_and_the_repair_uses_the_held_parts(tickets):
    admin, agent = tickets(ADMIN), tickets(AGENT)
    part, warehouse = _stocked(admin, 20)
    consumer, device = _consumer_with_phone(agent)
    centre = _centre(admin, consumer["region"])
    shelf = admin.create_warehouse(data={"code": unique("SC"), "name": "维修点货架",
                                         "kind": "service_center",
                                         "partner_id": centre["partner_id"]})
    ticket = agent.open_ticket(data={"consumer_id": consumer["id"], "product_id": device["id"],
                                     "channel": "call_center", "fault_description": "碎屏",
                                     "auto_dispatch": False})
    agent.transition_ticket(ticket["id"], data={"to": "assigned",
                                                "service_center_id": centre["id"]})
    partner = tickets(partner_user(centre["partner_id"]))
    partner.transition_ticket(ticket["id"], data={"to": "diagnosing"})
    partner.transition_ticket(ticket["id"], data={"to": "waiting_parts"})

    with pytest.raises(errors.Conflict) as too_many:
        partner.submit_parts_order(data={"warehouse_id": warehouse["id"],
                                         "lines": [{"part_id": part["id"], "qty": 21}]})
    assert too_many.value.code == "insufficient_stock"
    with pytest.raises(errors.ValidationFailed) as unknown:
        partner.submit_parts_order(data={"warehouse_id": warehouse["id"],
                                         "lines": [{"part_id": 2**40, "qty": 1}]})
    assert "lines.0.part_id" in unknown.value.fields
    with pytest.raises(errors.Forbidden):
        partner.submit_parts_order(data={"warehouse_id": warehouse["id"],
                                         "partner_id": random_partner_id(),
                                         "lines": [{"part_id": part["id"], "qty": 1}]})

    order = partner.submit_parts_order(data={"warehouse_id": warehouse["id"],
                                             "ticket_id": ticket["id"],
                                             "lines": [{"part_id": part["id"], "qty": 5}]})
    with pytest.raises(errors.Forbidden):
        partner.transition_parts_order(order["id"], data={"to": "approved"})
    agent.transition_parts_order(order["id"], data={"to": "approved"})
    assert _stock(agent, warehouse["id"], part["id"]) == {
        "warehouse_id": warehouse["id"], "part_id": part["id"], "on_hand": 20, "reserved": 5,
        "available": 15}
    with pytest.raises(errors.Conflict):
        agent.transition_parts_order(order["id"], data={"to": "received"})
    agent.transition_parts_order(order["id"], data={"to": "shipped"})
    partner.transition_parts_order(order["id"], data={"to": "received"})
    assert _stock(agent, warehouse["id"], part["id"])["on_hand"] == 15
    assert _stock(agent, shelf["id"], part["id"])["reserved"] == 5

    partner.transition_ticket(ticket["id"], data={"to": "repairing"})
    with pytest.raises(errors.Conflict):
        partner.add_worklog(ticket["id"], data={"text": "换屏", "parts_used": [
            {"part_id": part["id"], "qty": 6}]})
    partner.add_worklog(ticket["id"], data={"text": "换屏", "parts_used": [
        {"part_id": part["id"], "qty": 3}]})
    assert _stock(agent, shelf["id"], part["id"]) == {
        "warehouse_id": shelf["id"], "part_id": part["id"], "on_hand": 2, "reserved": 2,
        "available": 0}
    log = agent.list_stock_movements(query={"warehouse_id": warehouse["id"]})["items"]
    assert [(m["on_hand_delta"], m["reserved_delta"]) for m in log] == [
        (20, 0), (0, 5), (-5, -5)]

    # A cancelled approved order gives its reservation back.
    other = partner.submit_parts_order(data={"warehouse_id": warehouse["id"],
                                             "lines": [{"part_id": part["id"], "qty": 4}]})
    agent.transition_parts_order(other["id"], data={"to": "approved"})
    partner.transition_parts_order(other["id"], data={"to": "cancelled"})
    listed = partner.list_parts_orders(query={})["items"]
    assert [(o["id"], o["status"], o["lines"]) for o in listed] == [
        (order["id"], "received", [{"part_id": part["id"], "qty": 5}]),
        (other["id"], "cancelled", [{"part_id": part["id"], "qty": 4}])]
    assert _stock(agent, warehouse["id"], part["id"])["reserved"] == 0
    with pytest.raises(errors.Conflict):
        admin.adjust_stock(data={"warehouse_id": warehouse["id"], "part_id": part["id"],
                                 "qty": -16, "reason": "盘亏"})

    # Another partner sees the branch warehouse to order from, never this shelf.
    stranger = tickets(partner_user(random_partner_id()))
    seen = {w["id"] for w in stranger.list_warehouses(query={"limit": 500})["items"]}
    assert warehouse["id"] in seen and shelf["id"] not in seen
    assert stranger.list_stock_movements(query={"warehouse_id": shelf["id"]})["items"] == []
    assert stranger.list_stocks(query={"warehouse_id": shelf["id"]})["items"] == []

    # Closing the ticket frees what was held for it and not fitted.
    for step in ("done", "closed"):
        (partner if step == "done" else agent).transition_ticket(ticket["id"],
                                                                 data={"to": step})
    assert _stock(agent, shelf["id"], part["id"])["reserved"] == 0
    with pytest.raises(errors.ValidationFailed) as closed:
        partner.submit_parts_order(data={"warehouse_id": warehouse["id"],
                                         "ticket_id": ticket["id"],
                                         "lines": [{"part_id": part["id"], "qty": 1}]})
    assert "closed" in closed.value.fields["ticket_id"][0]


def test_concurrent_approvals_from_two_replicas_never_oversell(tickets, start_service,
                                                              rpc_as):
    start_service(ServiceTicketsService)  # a second replica: competing consumers
    admin, agent = tickets(ADMIN), tickets(AGENT)
    part, warehouse = _stocked(admin, 20)
    partner_id = random_partner_id()
    orders = [agent.submit_parts_order(data={
        "partner_id": partner_id, "warehouse_id": warehouse["id"],
        "lines": [{"part_id": part["id"], "qty": 1}]}) for _ in range(50)]

    def approve(order_id):
        proxy = rpc_as(AGENT, "service_tickets")
        try:
            proxy.transition_parts_order(order_id, data={"to": "approved"})
            return "approved"
        except errors.Conflict as exc:
            return exc.code
    outcomes = list(eventlet.GreenPool(50).imap(approve, [o["id"] for o in orders]))
    assert outcomes.count("approved") == 20
    assert outcomes.count("insufficient_stock") == 30
    assert _stock(agent, warehouse["id"], part["id"])["reserved"] == 20
    assert _stock(agent, warehouse["id"], part["id"])["available"] == 0


def test_creates_honour_idempotency_keys(tickets, rpc_as):
    agent = tickets(AGENT)
    consumer, _ = _consumer_with_phone(agent)
    key = str(uuid.uuid4())
    retrying = rpc_as(AGENT, "service_tickets", idempotency_key=key, request_hash="h1")
    data = {"consumer_id": consumer["id"], "channel": "call_center",
            "fault_description": "重试", "auto_dispatch": False}
    first, again = retrying.open_ticket(data=data), retrying.open_ticket(data=data)
    assert first == again
    assert len(agent.list_tickets(query={"consumer_id": consumer["id"]})["items"]) == 1


def test_a_retried_re_dispatch_moves_the_ticket_once(tickets, rpc_as):
    admin, agent = tickets(ADMIN), tickets(AGENT)
    consumer, device = _consumer_with_phone(agent)
    first, second = _centre(admin, consumer["region"]), _centre(admin, consumer["region"])
    ticket = agent.open_ticket(data={"consumer_id": consumer["id"], "product_id": device["id"],
                                     "channel": "call_center", "fault_description": "不开机",
                                     "auto_dispatch": False})
    agent.transition_ticket(ticket["id"], data={"to": "assigned",
                                                "service_center_id": first["id"]})
    retrying = rpc_as(AGENT, "service_tickets", idempotency_key=str(uuid.uuid4()),
                      request_hash="re-dispatch")
    move = {"to": "assigned", "service_center_id": second["id"]}
    moved, replayed = (retrying.transition_ticket(ticket["id"], data=move),
                       retrying.transition_ticket(ticket["id"], data=move))
    assert moved == replayed and moved["service_center_id"] == second["id"]
    history = [h["to_status"] for h in agent.get_ticket_history(ticket["id"])["items"]]
    assert history == ["new", "assigned", "assigned"]
