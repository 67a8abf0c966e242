"""Channels through the gateway as a client sees them: a region's partner, stores imported
from a file (multipart upload, 202, job progress, per-row errors), an inspection form from
draft to reviewed, and the error shapes of bad input."""
import io

import openpyxl
import pytest

from crmkit.testing import unique, wait_until

pytestmark = pytest.mark.e2e
PASSWORD = "channel-pass-12"


@pytest.fixture(scope="module")
def region(api, admin, login):
    unit = api.post("/org-units", headers=admin, json={
        "name": unique("华南大区"), "kind": "region", "parent_id": 1}).json()
    made = {"unit": unit}
    manager_id = 1
    for role in ("region_manager", "channel_owner"):
        user = api.post("/users", headers=admin, json={
            "username": unique(role[:2]), "password": PASSWORD, "display_name": role,
            "roles": [role], "org_unit_id": unit["id"], "manager_id": manager_id}).json()
        made[role] = {"user": user, "headers": login(user["username"], PASSWORD)}
        manager_id = user["id"]
    owner = made["channel_owner"]["headers"]
    made["partner"] = api.post("/partners", headers=owner, json={
        "code": unique("GD"), "name": "广东省代理有限公司", "kind": "provincial_distributor",
        "contacts": [{"name": "王经理", "phone": "+86 20 1234 5678"}]}).json()
    return made


def _upload(api, headers, name: str, content: bytes, **extra_headers):
    return api.post("/stores/import", headers={**headers, **extra_headers},
                    files={"file": (name, content, "text/csv")})


def _finished(api, headers, job_id) -> dict:
    job = {}

    def done():
        job.update(api.get(f"/imports/{job_id}", headers=headers).json())
        return job.get("status") in ("succeeded", "failed")
    assert wait_until(done, timeout=30), job
    return job


def test_partner_round_trips_chinese_and_money(api, region):
    partner = region["partner"]
    assert partner["name"] == "广东省代理有限公司" and partner["credit_limit"] == "0.00"
    owner = region["channel_owner"]["headers"]
    refused = api.patch(f"/partners/{partner['id']}", headers=owner,
                        json={"credit_limit": "1000"})
    assert refused.status_code == 403 and "credit_limit" in refused.json()["error"]["fields"]
    bad = api.post("/partners", headers=owner, json={
        "code": "bad code!", "name": "", "kind": "spaceship", "credit_limit": "1.234"})
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) >= {"code", "name", "kind", "credit_limit"}


def test_partner_changes_are_audited_and_history_kept(api, region):
    partner = region["partner"]
    manager = region["region_manager"]["headers"]
    changed = api.patch(f"/partners/{partner['id']}", headers=manager,
                        json={"tier": "gold", "credit_limit": "250000", "note": "季度评审"})
    assert changed.status_code == 200 and changed.json()["credit_limit"] == "250000.00"
    audit = api.get("/audit", headers=manager,
                    params={"resource": "partner", "id": partner["id"]}).json()["items"]
    assert [e["action"] for e in audit][:2] == ["update", "create"]
    assert audit[0]["before"]["tier"] is None and audit[0]["after"]["tier"] == "gold"
    history = api.get(f"/partners/{partner['id']}/history", headers=manager).json()["items"]
    assert {h["field"] for h in history} >= {"tier", "credit_limit"}
    unknown = api.get("/audit", headers=manager, params={"resource": "spaceship", "id": 1})
    assert unknown.status_code == 400 and "resource" in unknown.json()["error"]["fields"]
    owner = region["channel_owner"]["headers"]
    assert api.get("/audit", headers=owner, params={"resource": "partner",
                                                    "id": partner["id"]}).status_code == 403


def test_store_import_from_csv_and_xlsx_with_row_report(api, region):
    owner = region["channel_owner"]["headers"]
    code = region["partner"]["code"]
    rows = [(unique("GZ"), f"天河店{i}", code, "广州市天河区", "23.13", "113.26")
            for i in range(50)]
    header = "门店编码,门店名称,渠道商编码,地址,纬度,经度\n"
    bad_csv = header + "".join(",".join(r) + "\n" for r in rows[:3]) + \
        f"{rows[0][0]},重复,{code},x,23,113\n" + f"{unique('GZ')},坏纬度,{code},x,123,113\n"
    failed = _finished(api, owner, _upload(api, owner, "bad.csv", bad_csv.encode("gbk"))
                       .json()["id"])
    assert failed["status"] == "failed" and failed["imported"] == 0
    assert [(e["row"], e["field"]) for e in failed["errors"]] == [(5, "code"), (6, "lat")]

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["code", "name", "partner_code", "address", "lat", "lon"])
    for r in rows:
        sheet.append([r[0], r[1], r[2], r[3], float(r[4]), float(r[5])])
    buffer = io.BytesIO()
    book.save(buffer)
    reply = _upload(api, owner, "stores.xlsx", buffer.getvalue(), **{"Idempotency-Key": "x1"})
    assert reply.status_code == 202 and reply.json()["status"] in ("queued", "running",
                                                                    "succeeded")
    job = _finished(api, owner, reply.json()["id"])
    assert (job["status"], job["total"], job["imported"]) == ("succeeded", 50, 50)
    again = _upload(api, owner, "stores.xlsx", buffer.getvalue())
    assert again.json()["id"] == job["id"]
    stores = api.get(f"/stores?partner_id={region['partner']['id']}&limit=100",
                     headers=owner).json()["items"]
    assert len(stores) == 50 and stores[0]["visitable"] is True


def test_upload_errors_are_4xx(api, region, stack):
    owner = region["channel_owner"]["headers"]
    no_file = api.post("/stores/import", headers=owner, json={"file": "x"})
    assert no_file.status_code == 400 and "file" in no_file.json()["error"]["fields"]
    binary = _finished(api, owner, _upload(api, owner, "x.csv", b"\x00\x01\x02" * 100)
                       .json()["id"])
    assert binary["status"] == "failed" and binary["errors"][0]["field"] == "file"
    limit = int(stack.env.get("CRM_MAX_UPLOAD_BYTES", 16 * 1024 * 1024 + 64 * 1024))
    too_big = _upload(api, owner, "big.csv", b"a" * (limit + 1))
    assert too_big.status_code == 413


def test_inspection_form_from_draft_to_reviewed(api, region):
    manager = region["region_manager"]["headers"]
    owner = region["channel_owner"]["headers"]
    partner = region["partner"]
    store = api.post("/stores", headers=owner, json={
        "code": unique("ST"), "name": "北京路店", "partner_id": partner["id"],
        "address": "广州市越秀区北京路", "lat": 23.12, "lon": 113.27}).json()
    form = api.post("/inspections", headers=manager, json={
        "partner_id": partner["id"], "month": "2026-11", "store_ids": [store["id"]],
        "dynamics": "竞品促销力度加大"})
    assert form.status_code == 201, form.text
    form_id = form.json()["id"]
    assert api.post("/inspections", headers=manager, json={
        "partner_id": partner["id"], "month": "2026-13"}).status_code == 400
    line = api.post(f"/inspections/{form_id}/lines", headers=owner, json={
        "customer_name": "陈先生", "store_id": store["id"], "product_type": "手机",
        "quantity": 4, "amount": "5999.00"})
    assert line.status_code == 201, line.text
    assert api.post(f"/inspections/{form_id}/submit", headers=owner).status_code == 200
    late = api.post(f"/inspections/{form_id}/lines", headers=owner, json={
        "customer_name": "x", "store_id": store["id"], "product_type": "x", "quantity": 1,
        "amount": "1"})
    assert late.status_code == 409
    assert api.post(f"/inspections/{form_id}/review", headers=owner).status_code == 403
    reviewed = api.post(f"/inspections/{form_id}/review", headers=manager,
                        json={"comment": "同意"})
    assert reviewed.status_code == 200 and reviewed.json()["status"] == "reviewed"
    found = api.get("/inspections", headers=manager,
                    params={"partner_name": "广东省", "status": "reviewed"}).json()["items"]
    assert form_id in [f["id"] for f in found]


def test_adding_a_collaborator_reaches_their_inbox(api, region):
    owner = region["channel_owner"]["headers"]
    manager = region["region_manager"]
    store = api.post("/stores", headers=owner, json={
        "code": unique("PL"), "name": "计划门店", "partner_id": region["partner"]["id"],
        "address": "广州市海珠区", "lat": 23.1, "lon": 113.3}).json()
    plan = api.post("/action-plans", headers=owner, json={
        "template": "store", "store_id": store["id"], "period": "2026-12",
        "title": "年末冲量"}).json()
    added = api.post(f"/action-plans/{plan['id']}/collaborators", headers=owner,
                     json={"user_id": manager["user"]["id"]})
    assert added.status_code == 200, added.text

    def noticed():
        inbox = api.get("/notifications", headers=manager["headers"],
                        params={"unread": "true"}).json()
        return any(n["related"] == {"resource": "action_plan", "id": plan["id"]}
                   for n in inbox["items"]) and inbox["unread_count"] >= 1
    assert wait_until(noticed)
    first = api.get("/notifications", headers=manager["headers"]).json()["items"][0]
    assert api.post(f"/notifications/{first['id']}/read",
                    headers=manager["headers"]).json()["read_at"] is not None
    assert api.post(f"/notifications/{first['id']}/read", headers=owner).status_code == 404
