"""The report use cases: build a month's report in the caller's scope and answer it in
the asked format."""
from crmkit.database import UnitOfWork
from reporting import channel_report, exports, ticket_report, visit_report


def build(unit: UnitOfWork, report: str, query: dict) -> dict:
    month = query["month"]
    if report == "channels":
        return channel_report.build(unit.session, unit.caller, month,
                                    query.get("group_by", "partner"))
    if report == "visits":
        return visit_report.build(unit.session, unit.caller, month)
    return ticket_report.build(unit.session, unit.caller, month)


def report_file(unit: UnitOfWork, report: str, query: dict) -> dict:
    """The report itself for `format=json`; otherwise a file (CSV, XLSX, PNG, SVG)."""
    built = build(unit, report, query)
    return built if query["format"] == "json" else exports.as_file(built, query["format"])
