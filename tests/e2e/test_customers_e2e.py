"""Customers through the gateway: duplicate detection as a client sees it (409 with the
candidates, then allow_duplicate=true), masking for analysts, audit."""
import uuid

import pytest

pytestmark = pytest.mark.e2e


def test_a_likely_duplicate_is_409_with_candidates(api, admin):
    base = f"广州{uuid.uuid4().hex[:6]}贸易"
    first = api.post("/customers", headers=admin, json={
        "name": f"{base}有限公司", "type": "dealer", "phone": "020-3888 0000"})
    assert first.status_code == 201, first.text
    again = api.post("/customers", headers=admin, json={"name": f"{base}股份有限公司"})
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "duplicate_suspected"
    assert error["candidates"][0]["id"] == first.json()["id"]
    assert isinstance(error["candidates"][0]["score"], float)
    forced = api.post("/customers?allow_duplicate=true", headers=admin,
                      json={"name": f"{base}股份有限公司"})
    assert forced.status_code == 201
    reply = api.get("/customers/duplicates", headers=admin,
                    params={"phone": "020 3888 0000"})
    assert reply.status_code == 200, reply.text
    found = reply.json()["items"]
    assert first.json()["id"] in [c["id"] for c in found]
    audit = api.get("/audit", headers=admin,
                    params={"resource": "customer", "id": first.json()["id"]}).json()
    assert [e["action"] for e in audit["items"]] == ["create"]
    assert api.get("/customers/duplicates", headers=admin).status_code == 400


def test_analysts_see_masked_phones(api, admin, login):
    analyst = api.post("/users", headers=admin, json={
        "username": f"an{uuid.uuid4().hex[:8]}", "password": "analyst-pass-1",
        "display_name": "分析师", "roles": ["analyst"], "org_unit_id": 1}).json()
    customer = api.post("/customers?allow_duplicate=true", headers=admin, json={
        "name": f"深圳{uuid.uuid4().hex[:6]}电子", "phone": "13912345678",
        "team_member_ids": [analyst["id"]]}).json()
    seen = api.get(f"/customers/{customer['id']}",
                   headers=login(analyst["username"], "analyst-pass-1")).json()
    assert seen["phone"] == "139****5678"
    rules = api.get("/field-permissions", headers=admin).json()["items"]
    assert {"role": "analyst", "resource": "customer", "field": "phone",
            "rule": "masked"} in rules


def test_customers_import_all_or_nothing_and_export(api, admin):
    import csv
    import io

    import openpyxl
    tag = uuid.uuid4().hex[:6]
    header = "客户名称,客户类型,电话,税号,联系人,联系人电话\n"
    good = header + "".join(f"成都{tag}{i}号餐饮管理有限公司,enterprise,,,李{i},1390000{i:04d}\n"
                   for i in range(20))
    bad = good + f"成都{tag}0号餐饮管理股份有限公司,spaceship,123,,,\n"
    refused = api.post("/customers/import", headers=admin,
                       files={"file": ("bad.csv", bad.encode("gbk"), "text/csv")})
    assert refused.status_code == 400, refused.text
    errors = refused.json()["error"]["errors"]
    assert {(e["row"], e["field"]) for e in errors} >= {(22, "type"), (22, "phone")}
    assert api.get("/customers", headers=admin, params={"q": tag}).json()["items"] == []
    done = api.post("/customers/import", headers=admin,
                    files={"file": ("good.csv", good.encode("utf-8-sig"), "text/csv")})
    assert done.status_code == 200 and done.json()["imported"] == 20, done.text
    again = api.post("/customers/import", headers=admin,
                     files={"file": ("good.csv", good.encode("utf-8-sig"), "text/csv")})
    assert again.status_code == 400  # every row is now a likely duplicate
    exported = api.get("/customers/export", headers=admin, params={"format": "csv"})
    assert exported.status_code == 200 and exported.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["客户编码", "客户名称"]
    assert sum(tag in r[1] for r in rows[1:]) == 20
    book = api.get("/customers/export", headers=admin, params={"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(book.content), read_only=True).active
    assert next(sheet.iter_rows(values_only=True))[1] == "客户名称"
