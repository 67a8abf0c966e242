"""Channel reports over real RPC, fed by the real channels service through the broker:
arrival, scope along the org tree, the three roll-ups, exports, bad input, and the
rebuild from the event archive."""
import base64
import io

import openpyxl
import pytest

from crmkit import errors
from crmkit.testing import ADMIN, wait_until

MONTH = "2031-05"


def _report(proxy, **query) -> dict:
    answer = proxy.channel_report(query={"month": MONTH, **query})
    assert "report" in answer  # format=json answers the report itself, not a file
    return answer


def _row(report, key):
    return next((r for r in report["rows"] if r["key"] == key), None)


def _settled(report, key, lines) -> bool:
    """Every line counted and the form's submission seen (events arrive in any order)."""
    row = _row(report, key)
    return row is not None and row["line_count"] == lines and row["forms"]["submitted"] == 1


def test_a_line_reaches_the_report_and_only_in_scope(system, region, channel_form):
    """(How fast is bench/reports.py's business: event-to-report lag at 200 events/s.)"""
    team, sibling = region(), region()
    partner, store, form = channel_form(team, MONTH)
    owner = system(team["owner"], "channels")
    reports = system(team["manager"], "reporting")

    owner.add_inspection_line(form["id"], data={
        "customer_name": "张三", "store_id": store["id"], "product_type": "燃气热水器",
        "quantity": 3, "amount": "2999.70"})
    assert wait_until(lambda: (_row(_report(reports), partner["id"]) or {}).get(
        "quantity") == 3, timeout=10, interval=0.05)

    owner.add_inspection_line(form["id"], data={
        "customer_name": "李四", "store_id": store["id"], "product_type": "电热水器",
        "quantity": 2, "amount": "1000.00"})
    owner.add_inspection_line(form["id"], data={
        "customer_name": "王五", "store_id": store["id"], "product_type": "燃气热水器",
        "quantity": 1, "amount": "999.90"})
    owner.submit_inspection(form["id"])
    assert wait_until(lambda: _settled(_report(reports), partner["id"], lines=3))

    row = _row(_report(reports), partner["id"])
    assert (row["label"], row["line_count"], row["quantity"], row["amount"]) == (
        partner["name"], 3, 6, "4999.60")
    assert row["by_product_type"] == [
        {"product_type": "燃气热水器", "line_count": 2, "quantity": 4, "amount": "3999.60"},
        {"product_type": "电热水器", "line_count": 1, "quantity": 2, "amount": "1000.00"}]
    assert row["forms"] == {"draft": 0, "submitted": 1, "reviewed": 0, "total": 1}
    assert row["channel_share"] == "35.50"

    by_owner = _report(reports, group_by="owner")
    assert [(r["key"], r["label"], r["amount"]) for r in by_owner["rows"]] == [
        (team["owner"].user_id, team["owner_name"], "4999.60")]
    assert by_owner["totals"]["amount"] == "4999.60"
    # HQ sees the region as one row of its roll-up; the sibling region sees nothing of it.
    by_unit = _report(system(ADMIN, "reporting"), group_by="hq")
    region_row = _row(by_unit, team["region"]["id"])
    assert region_row is not None and region_row["label"] == team["region"]["name"]
    assert region_row["amount"] == "4999.60" and region_row["forms"]["submitted"] == 1
    assert _report(system(sibling["manager"], "reporting"))["rows"] == []


def test_exports_charts_and_bad_input(system, region, channel_form):
    team = region()
    partner, store, form = channel_form(team, MONTH, share=None)
    system(team["owner"], "channels").add_inspection_line(form["id"], data={
        "customer_name": "张三", "store_id": store["id"], "product_type": "燃气热水器",
        "quantity": 5, "amount": "500.00"})
    reports = system(team["manager"], "reporting")
    assert wait_until(lambda: _report(reports)["rows"])

    csv_file = reports.channel_report(query={"month": MONTH, "format": "csv"})
    content = base64.b64decode(csv_file["content_base64"])
    assert csv_file["filename"] == f"channels-{MONTH}-partner.csv"
    assert content.startswith(b"\xef\xbb\xbf")
    text = content.decode("utf-8-sig")
    assert "渠道商,编号,燃气热水器 数量,燃气热水器 金额" in text and partner["name"] in text

    xlsx = reports.channel_report(query={"month": MONTH, "format": "xlsx",
                                         "group_by": "owner"})
    sheet = openpyxl.load_workbook(io.BytesIO(base64.b64decode(xlsx["content_base64"]))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("渠道负责人", "编号", "燃气热水器 数量")
    assert rows[1][0] == team["owner_name"] and rows[1][3] == 500.0 and rows[-1][0] == "合计"

    png = reports.channel_report(query={"month": MONTH, "format": "png"})
    assert png["content_type"] == "image/png"
    assert base64.b64decode(png["content_base64"]).startswith(b"\x89PNG")
    svg = reports.visit_report(query={"month": MONTH, "format": "svg"})
    assert b"<svg" in base64.b64decode(svg["content_base64"])

    for query, field in (({"month": "2026-13"}, "month"), ({}, "month"),
                         ({"month": MONTH, "group_by": "region"}, "group_by"),
                         ({"month": MONTH, "format": "pdf"}, "format")):
        with pytest.raises(errors.ValidationFailed) as bad:
            reports.channel_report(query=query)
        assert field in bad.value.fields, (query, bad.value.fields)
    with pytest.raises(errors.NotAuthenticated):
        system(None, "reporting").channel_report(query={"month": MONTH})


def test_rebuild_from_the_archive_gives_the_same_figures(system, region, channel_form):
    from crmkit.database import make_engine
    from crmkit.settings import database_settings
    from reporting.rebuild import rebuild

    team = region()
    partner, store, form = channel_form(team, MONTH)
    owner = system(team["owner"], "channels")
    for quantity in (1, 2, 3):
        owner.add_inspection_line(form["id"], data={
            "customer_name": "客户", "store_id": store["id"], "product_type": f"型{quantity}",
            "quantity": quantity, "amount": f"{quantity * 100}.00"})
    owner.submit_inspection(form["id"])
    admin = system(ADMIN, "reporting")
    assert wait_until(lambda: _settled(_report(admin), partner["id"], lines=3))
    before = {g: _report(admin, group_by=g) for g in ("partner", "owner", "hq")}
    assert _row(before["partner"], partner["id"])["amount"] == "600.00"

    engine = make_engine(database_settings("reporting"))
    try:
        replayed = rebuild(engine)
    finally:
        engine.dispose()
    assert replayed["events"] >= 5
    assert {g: _report(admin, group_by=g) for g in before} == before
