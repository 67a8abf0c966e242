"""Reports through the gateway as a region manager and a channel owner use them: a line
filled in channels shows in the month's channel report (JSON, CSV, chart), bad queries are
400 with the field, and the month's report goes up to the direct manager only."""
import io
import time

import openpyxl
import pytest

from crmkit.testing import unique, wait_until

pytestmark = pytest.mark.e2e
PASSWORD = "reports-e2e-123"
MONTH = "2032-03"


@pytest.fixture(scope="module")
def team(api, admin, login):
    region = api.post("/org-units", headers=admin, json={
        "name": unique("西南大区"), "kind": "region", "parent_id": 1}).json()
    people = {}
    for key, role, manager in (("manager", "region_manager", 1),
                               ("owner", "channel_owner", None)):
        reply = api.post("/users", headers=admin, json={
            "username": unique(key), "password": PASSWORD, "display_name": unique(key),
            "roles": [role], "org_unit_id": region["id"],
            "manager_id": manager or people["manager"]["id"]})
        assert reply.status_code == 201, reply.text
        people[key] = reply.json()
    return {**people, "region": region,
            "as_manager": login(people["manager"]["username"], PASSWORD),
            "as_owner": login(people["owner"]["username"], PASSWORD)}


def test_a_filled_line_shows_in_the_report_and_its_exports(api, team):
    manager, owner = team["as_manager"], team["as_owner"]
    partner = api.post("/partners", headers=manager, json={
        "code": unique("CD"), "name": unique("成都渠道"), "kind": "chain",
        "owner_id": team["owner"]["id"], "channel_share": "40"}).json()
    store = api.post("/stores", headers=manager, json={
        "code": unique("S"), "name": "春熙路店", "partner_id": partner["id"],
        "owner_id": team["owner"]["id"]}).json()
    form = api.post("/inspections", headers=manager, json={
        "partner_id": partner["id"], "month": MONTH, "store_ids": [store["id"]]})
    assert form.status_code == 201, form.text
    line = api.post(f"/inspections/{form.json()['id']}/lines", headers=owner, json={
        "customer_name": "张三", "store_id": store["id"], "product_type": "燃气热水器",
        "quantity": 4, "amount": "3200.00"})
    assert line.status_code == 201, line.text

    # The form and its line travel as two events: wait for the line, not the form.
    deadline, rows = time.monotonic() + 5, []
    while time.monotonic() < deadline and not (rows and rows[0]["quantity"]):
        reply = api.get("/reports/channels", headers=manager, params={"month": MONTH})
        assert reply.status_code == 200, reply.text
        rows = reply.json()["rows"]
        time.sleep(0.1)
    assert [(r["label"], r["quantity"], r["amount"], r["channel_share"]) for r in rows] == [
        (partner["name"], 4, "3200.00", "40.00")]

    csv_reply = api.get("/reports/channels", headers=manager,
                        params={"month": MONTH, "group_by": "owner", "format": "csv"})
    assert csv_reply.status_code == 200
    assert csv_reply.headers["content-type"].startswith("text/csv")
    assert csv_reply.content.startswith(b"\xef\xbb\xbf")
    assert team["owner"]["display_name"] in csv_reply.content.decode("utf-8-sig")
    xlsx = api.get("/reports/channels", headers=manager,
                   params={"month": MONTH, "format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert next(sheet.iter_rows(values_only=True))[0] == "渠道商"
    png = api.get("/reports/visits", headers=manager, params={"month": MONTH, "format": "png"})
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")

    for params, field in (({"month": "2026-13"}, "month"),
                          ({"month": MONTH, "group_by": "city"}, "group_by"),
                          ({"month": MONTH, "format": "pdf"}, "format")):
        bad = api.get("/reports/channels", headers=manager, params=params)
        assert bad.status_code == 400, bad.text
        assert field in bad.json()["error"]["fields"]
    assert api.get("/reports/tickets", headers=owner,
                   params={"month": MONTH}).status_code == 403


def test_a_report_goes_one_level_up_and_comes_back_with_a_comment(api, admin, team):
    owner, manager = team["as_owner"], team["as_manager"]
    skipped = api.post("/reports/submissions", headers=owner, json={
        "report": "channels", "month": MONTH, "recipient_id": 1})
    assert skipped.status_code == 403 and skipped.json()["error"]["code"] == "skip_level"
    sent = api.post("/reports/submissions", headers=owner, json={
        "report": "channels", "month": MONTH, "note": "三月报表"})
    assert sent.status_code == 201, sent.text
    assert sent.json()["recipient_id"] == team["manager"]["id"]
    received = api.get("/reports/submissions", headers=manager,
                       params={"box": "received"}).json()["items"]
    assert [s["id"] for s in received] == [sent.json()["id"]]
    comment = api.post(f"/reports/submissions/{sent.json()['id']}/comments",
                       headers=manager, json={"text": "收到，请补充门店明细"})
    assert comment.status_code == 201, comment.text
    mine = api.get(f"/reports/submissions/{sent.json()['id']}", headers=owner).json()
    assert [c["text"] for c in mine["comments"]] == ["收到，请补充门店明细"]

    def told(headers, kind):
        inbox = api.get("/notifications", headers=headers).json()["items"]
        return any(n["kind"] == kind and n["related"] == {
            "resource": "report_submission", "id": sent.json()["id"]} for n in inbox)
    assert wait_until(lambda: told(manager, "report_submitted"))
    assert wait_until(lambda: told(owner, "report_commented"))
    assert api.get(f"/reports/submissions/{sent.json()['id']}",
                   headers=admin).status_code == 404
