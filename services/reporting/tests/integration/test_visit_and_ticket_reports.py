"""Visit KPIs and the after-sales report, fed by the real visits and service_tickets
services through the broker."""
from datetime import UTC, datetime

import pytest

from crmkit import errors
from crmkit.testing import ADMIN, unique, wait_until

SHANGHAI = (31.2304, 121.4737)


def _report(proxy, method: str, month: str) -> dict:
    answer = getattr(proxy, method)(query={"month": month})
    assert "report" in answer  # format=json answers the report itself, not a file
    return answer


def _row(report, user_id):
    return next((r for r in report["rows"] if r["user_id"] == user_id), None)


def test_visits_against_target_coverage_and_fraud_signals(system, region):
    team = region()
    month = datetime.now(UTC).strftime("%Y-%m")
    channels = system(team["owner"], "channels")
    partner = channels.create_partner(data={"code": unique("P"), "name": "渠道商",
                                            "kind": "chain"})
    store = channels.create_store(data={
        "code": unique("S"), "name": "人民广场店", "partner_id": partner["id"],
        "address": "上海市黄浦区人民大道", "lat": SHANGHAI[0], "lon": SHANGHAI[1]})
    manager = system(team["manager"], "visits")
    visit: dict = {}

    def planned():
        try:
            visit.update(manager.create_visit(data={
                "user_id": team["sales"].user_id, "store_id": store["id"],
                "planned_at": datetime.now(UTC).isoformat()}))
            return True
        except errors.ValidationFailed:
            return False
    assert wait_until(planned), "the store never reached visits"
    sales = system(team["sales"], "visits")
    # Checked in 2 km away: an outside_radius fraud signal.
    sales.check_in(visit["id"], data={"lat": SHANGHAI[0] + 0.018, "lon": SHANGHAI[1],
                                      "accuracy_m": 10, "at": datetime.now(UTC).isoformat()})
    sales.check_out(visit["id"], data={"feedback": "好"})
    manager.set_visit_target(data={"user_id": team["sales"].user_id, "month": month,
                                   "target": 10, "adjustment": -2})

    reports = system(team["manager"], "reporting")
    expected = {"planned": 1, "checked_in": 1, "completed": 1, "target": 10,
                "effective_target": 8, "progress": 0.125, "stores_visited": 1,
                "unit_stores": 1, "coverage": 1.0, "fraud_signals": 1,
                "fraud_by_kind": {"outside_radius": 1}}

    def arrived():
        row = _row(_report(reports, "visit_report", month), team["sales"].user_id) or {}
        return {k: row.get(k) for k in expected} == expected
    assert wait_until(arrived), _row(_report(reports, "visit_report", month),
                                     team["sales"].user_id)
    # Visits are personal: the salesperson sees only their own row, a peer none of it.
    own = _report(system(team["sales"], "reporting"), "visit_report", month)
    assert [r["user_id"] for r in own["rows"]] == [team["sales"].user_id]
    assert _row(_report(system(team["owner"], "reporting"), "visit_report", month),
                team["sales"].user_id) is None


def test_tickets_by_status_region_fault_code_repair_time_and_satisfaction(system):
    from service_tickets.testing import AGENT, SALES, new_imei, partner_user, random_partner_id
    tickets = system(AGENT, "service_tickets")
    region_name, model = unique("华东"), unique("X")
    partner_id = random_partner_id()
    desk = system(ADMIN, "service_tickets")
    centre = desk.create_service_center(data={
        "partner_id": partner_id, "name": unique("维修中心"), "region": region_name})
    desk.create_dispatch_rule(data={"priority": 1, "region": region_name,
                                    "service_center_ids": [centre["id"]]})
    consumer = tickets.create_consumer(data={"name": "张三", "phone": "13800138000",
                                             "region": region_name})
    device = tickets.register_product(consumer["id"], data={
        "model": model, "product_line": "phone", "imei": new_imei(), "sold_at": "2026-06-01"})
    first = tickets.open_ticket(data={"consumer_id": consumer["id"], "product_id": device["id"],
                                      "channel": "call_center", "fault_description": "屏幕不亮"})
    tickets.open_ticket(data={"consumer_id": consumer["id"], "product_id": device["id"],
                              "channel": "call_center", "fault_description": "无法开机",
                              "auto_dispatch": False})
    for step in ("diagnosing", "repairing"):
        tickets.transition_ticket(first["id"], data={"to": step})
    tickets.transition_ticket(first["id"], data={"to": "done", "fault_code": "LCD-01"})
    tickets.transition_ticket(first["id"], data={"to": "closed"})
    survey = tickets.get_ticket_survey(first["id"])
    tickets.answer_survey(survey["id"], data={"score": 4})
    month = first["created_at"][:7]

    reports = system(ADMIN, "reporting")

    def ours():
        report = _report(reports, "ticket_report", month)
        return next((r for r in report["by_region"] if r["region"] == region_name), None), \
            report
    assert wait_until(lambda: (ours()[0] or {}).get("satisfaction") == 4.0)
    row, report = ours()
    assert (row["opened"], row["open"], row["surveys_answered"]) == (2, 1, 1)
    assert row["mttr_hours"] is not None and row["mttr_hours"] >= 0
    assert {"model": model, "fault_code": "LCD-01", "tickets": 1} in report["top_fault_codes"]
    assert {s["status"] for s in report["by_status"]} >= {"closed", "new"}
    # A repair partner sees only its own tickets; sales roles get no after-sales report.
    mine = _report(system(partner_user(partner_id), "reporting"), "ticket_report", month)
    assert [r["region"] for r in mine["by_region"]] == [region_name]
    assert mine["totals"]["opened"] == 1
    with pytest.raises(errors.Forbidden):
        system(SALES, "reporting").ticket_report(query={"month": month})
