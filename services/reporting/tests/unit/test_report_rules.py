"""Pure parts of reporting: months, scope of the after-sales report, query validation,
exports and charts, and that every consumer feeds a read model the rebuild replays."""
import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import openpyxl
import pytest

from crmkit.context import Caller
from crmkit.errors import Forbidden, ValidationFailed
from crmkit.validation import load
from reporting import charts, exports
from reporting.access import ticket_partner_scope
from reporting.periods import month_of
from reporting.projections import APPLIERS
from reporting.schemas import ChannelReportQuerySchema, SubmissionCreateSchema

CHANNELS = {
    "report": "channels", "month": "2026-11", "group_by": "partner",
    "product_types": ["燃气热水器", "电热水器"],
    "rows": [{"key": 7, "label": "广东省代理", "line_count": 2, "quantity": 5,
              "amount": "1234.50",
              "by_product_type": [{"product_type": "燃气热水器", "line_count": 2,
                                   "quantity": 5, "amount": "1234.50"}],
              "forms": {"draft": 0, "submitted": 1, "reviewed": 0, "total": 1},
              "channel_share": "35.00"}],
    "totals": {"key": None, "label": None, "line_count": 2, "quantity": 5,
               "amount": "1234.50",
               "by_product_type": [{"product_type": "燃气热水器", "line_count": 2,
                                    "quantity": 5, "amount": "1234.50"}],
               "forms": {"draft": 0, "submitted": 1, "reviewed": 0, "total": 1},
               "channel_share": "35.00"},
}


def test_months_are_utc_calendar_months():
    assert month_of("2026-11-30T23:30:00+00:00") == "2026-11"
    # 07:30 on 1 December in Shanghai is still November in UTC.
    assert month_of(datetime(2026, 12, 1, 7, 30, tzinfo=timezone(timedelta(hours=8)))) \
        == "2026-11"
    assert month_of(datetime(2026, 12, 1, tzinfo=UTC)) == "2026-12"


def test_bad_report_queries_name_the_field():
    for query, field in (({"month": "2026-13"}, "month"), ({"month": "26-1"}, "month"),
                         ({"month": "2026-11", "group_by": "city"}, "group_by"),
                         ({"month": "2026-11", "format": "pdf"}, "format")):
        with pytest.raises(ValidationFailed) as bad:
            load(ChannelReportQuerySchema(), query)
        assert field in bad.value.fields
    assert load(ChannelReportQuerySchema(), {"month": "2026-11"}) == {
        "month": "2026-11", "group_by": "partner", "format": "json"}
    with pytest.raises(ValidationFailed) as bad:
        load(SubmissionCreateSchema(), {"report": "channels", "month": "2026-11",
                                        "recipient_id": 0})
    assert "recipient_id" in bad.value.fields


def test_after_sales_figures_are_for_the_desk_and_each_partner_alone():
    assert ticket_partner_scope(Caller(user_id=1, roles=frozenset({"analyst"}))) is None
    partner = Caller(user_id=2, roles=frozenset({"repair_partner"}), partner_id=44)
    assert ticket_partner_scope(partner) == 44
    for roles in ({"region_manager"}, {"repair_partner"}):  # a partner user with no partner
        with pytest.raises(Forbidden):
            ticket_partner_scope(Caller(user_id=3, roles=frozenset(roles)))


def test_csv_has_a_bom_and_chinese_headers_excel_reads():
    content = exports.to_csv(CHANNELS)
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["渠道报表 2026-11"]
    assert rows[1][:6] == ["渠道商", "编号", "燃气热水器 数量", "燃气热水器 金额",
                           "电热水器 数量", "电热水器 金额"]
    assert rows[2][:6] == ["广东省代理", "7", "5", "1234.50", "0", "0.00"]
    assert rows[-1][0] == "合计"


def test_xlsx_keeps_money_as_numbers():
    sheet = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(CHANNELS))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "渠道商" and rows[1][0] == "广东省代理"
    assert rows[1][3] == 1234.5 and rows[1][-1] == 35.0


def test_charts_render_png_and_svg_with_or_without_a_cjk_font():
    png = charts.render(CHANNELS, "png")
    svg = charts.render(CHANNELS, "svg")
    assert png.startswith(b"\x89PNG") and b"<svg" in svg
    title, labels, series, _ = charts.bars(CHANNELS)
    if charts.cjk_font() is None:
        # No font to draw Chinese: an English title, ids and stand-ins for Chinese names.
        assert (title, labels, list(series)) == (
            "Channel report 2026-11: amount by partner", ["#7"], ["type 1", "type 2"])
    else:
        assert (labels, list(series)) == (["广东省代理"], ["燃气热水器", "电热水器"])
    file = exports.as_file(CHANNELS, "svg")
    assert (file["filename"], file["content_type"]) == ("channels-2026-11-partner.svg",
                                                        "image/svg+xml")


def test_every_consumer_of_other_services_feeds_the_archive_and_the_rebuild():
    from nameko.events import EventHandler

    from reporting.service import ReportingService
    handled = {(e.source_service, e.event_type)
               for name in dir(ReportingService)
               for e in getattr(getattr(ReportingService, name), "nameko_entrypoints", ())
               if isinstance(e, EventHandler) and e.source_service != "accounts"}
    assert handled == set(APPLIERS)


def test_the_form_upsert_ranks_statuses_as_status_rank_says():
    """The form upsert is SQL written once (see channel_facts): its two CASEs must keep
    the order of STATUS_RANK."""
    import re

    from reporting.channel_facts import _UPSERT_FORMS, STATUS_RANK
    sql = " ".join(_UPSERT_FORMS.text.split())
    ranks = re.findall(r"WHEN '(\w+)' THEN (\d+)", sql)
    assert ranks == [(s, str(r)) for s, r in STATUS_RANK.items()] * 2
    assert sql.count("ELSE -1 END") == 2
