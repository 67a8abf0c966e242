"""After-sales through the gateway as the call centre and a repair partner use it: a
consumer and device, a ticket dispatched by the rules and worked by the partner, a parts
order racing others for the last units."""
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from crmkit.testing import unique
from service_tickets.testing import new_imei

pytestmark = pytest.mark.e2e
PASSWORD = "after-sales-123"



@pytest.fixture(scope="module")
def desk(api, admin, login):
    """An HQ service agent, a service centre with a repair partner's user, a rule."""
    region = unique("华南")
    agent = api.post("/users", headers=admin, json={
        "username": unique("agent"), "password": PASSWORD, "display_name": "客服",
        "roles": ["service_agent"], "org_unit_id": 1, "manager_id": 1}).json()
    partner = api.post("/partners", headers=admin, json={
        "code": unique("ASP"), "name": "广州授权维修", "kind": "service_provider"}).json()
    fixer = api.post("/users", headers=admin, json={
        "username": unique("fixer"), "password": PASSWORD, "display_name": "维修员",
        "roles": ["repair_partner"], "org_unit_id": 1, "manager_id": 1,
        "partner_id": partner["id"]})
    assert fixer.status_code == 201, fixer.text
    centre = api.post("/service-centers", headers=admin, json={
        "partner_id": partner["id"], "name": "广州维修中心", "region": region}).json()
    rule = api.post("/dispatch-rules", headers=admin, json={
        "priority": 1, "region": region, "service_center_ids": [centre["id"]]})
    assert rule.status_code == 201, rule.text
    return {"agent": login(agent["username"], PASSWORD),
            "fixer": login(fixer.json()["username"], PASSWORD), "region": region,
            "centre": centre, "partner": partner}


def test_a_repair_from_intake_to_survey(api, admin, desk):
    agent, fixer = desk["agent"], desk["fixer"]
    consumer = api.post("/consumers", headers=agent, json={
        "name": "王五", "phone": "13912345678", "region": desk["region"]}).json()
    bad = api.post(f"/consumers/{consumer['id']}/products", headers=agent,
                   json={"model": "X1", "imei": "123456789012345"})
    assert bad.status_code == 400 and "imei" in bad.json()["error"]["fields"]
    device = api.post(f"/consumers/{consumer['id']}/products", headers=agent, json={
        "model": "X1", "imei": new_imei(), "sold_at": "2026-10-01"}).json()
    assert api.get("/products", headers=agent,
                   params={"imei": device["imei"]}).json()["items"][0]["id"] == device["id"]

    key = {"Idempotency-Key": unique("t-")}
    body = {"consumer_id": consumer["id"], "product_id": device["id"],
            "channel": "call_center", "fault_description": "开机黑屏"}
    opened = api.post("/tickets", headers={**agent, **key}, json=body)
    again = api.post("/tickets", headers={**agent, **key}, json=body)
    assert opened.status_code == 201 and again.json()["id"] == opened.json()["id"]
    ticket = opened.json()
    assert ticket["status"] == "assigned" and ticket["partner_id"] == desk["partner"]["id"]
    assert ticket["in_warranty"] is True and ticket["due_at"]

    skip = api.post(f"/tickets/{ticket['id']}/transitions", headers=fixer,
                    json={"to": "done"})
    assert skip.status_code == 409 and skip.json()["error"]["code"] == "illegal_transition"
    for step in ("diagnosing", "repairing", "done"):
        moved = api.post(f"/tickets/{ticket['id']}/transitions", headers=fixer,
                         json={"to": step})
        assert moved.status_code == 200, moved.text
    assert api.post(f"/tickets/{ticket['id']}/transitions", headers=fixer,
                    json={"to": "closed"}).status_code == 403
    assert api.post(f"/tickets/{ticket['id']}/transitions", headers=agent,
                    json={"to": "closed"}).status_code == 200
    survey = api.get(f"/tickets/{ticket['id']}/survey", headers=agent).json()
    answer = api.post(f"/surveys/{survey['id']}/answers", headers=agent,
                      json={"score": 6})
    assert answer.status_code == 400 and "score" in answer.json()["error"]["fields"]
    assert api.post(f"/surveys/{survey['id']}/answers", headers=agent,
                    json={"score": 4}).json()["status"] == "answered"
    trail = api.get("/audit", headers=admin,
                    params={"resource": "ticket", "id": ticket["id"]}).json()["items"]
    assert [e["action"] for e in trail][:1] == ["transition"] and len(trail) == 5


def test_concurrent_approvals_through_the_gateway_never_oversell(api, admin, desk, stack):
    part = api.post("/parts", headers=admin, json={
        "code": unique("LCD"), "name": "显示屏", "unit_price": "199.50"}).json()
    warehouse = api.post("/warehouses", headers=admin, json={
        "code": unique("GZ"), "name": "广州仓", "kind": "branch"}).json()
    api.post("/stocks/adjustments", headers=admin, json={
        "warehouse_id": warehouse["id"], "part_id": part["id"], "qty": 20, "reason": "入库"})
    orders = [api.post("/parts-orders", headers=desk["fixer"], json={
        "warehouse_id": warehouse["id"], "lines": [{"part_id": part["id"], "qty": 1}]}).json()
        for _ in range(30)]

    def approve(order_id):
        with httpx.Client(base_url=f"{stack.url}/api/v1", timeout=20) as client:
            return client.post(f"/parts-orders/{order_id}/transitions",
                               headers=desk["agent"], json={"to": "approved"}).status_code
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(approve, [o["id"] for o in orders]))
    assert codes.count(200) == 20 and codes.count(409) == 10
    stock = api.get("/stocks", headers=admin, params={
        "warehouse_id": warehouse["id"], "part_id": part["id"]}).json()["items"][0]
    assert stock == {"warehouse_id": warehouse["id"], "part_id": part["id"], "on_hand": 20,
                     "reserved": 20, "available": 0}
    over = api.post("/parts-orders", headers=desk["fixer"], json={
        "warehouse_id": warehouse["id"], "lines": [{"part_id": part["id"], "qty": 1}]})
    assert over.status_code == 409 and "lines.0.qty" in over.json()["error"]["fields"]
