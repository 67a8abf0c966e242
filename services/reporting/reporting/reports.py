"""The report use cases: build a month's report in the caller's scope and answer it in
the asked format. Channel reports come from `report_cache` while nothing they read has
changed; a JSON answer is then the stored JSON itself."""
import json

from crmkit.database import UnitOfWork
from crmkit.entrypoints import JsonText
from reporting import exports, report_cache, ticket_report, visit_report


def _channel_json(unit: UnitOfWork, query: dict) -> bytes:
    return report_cache.channel_json(unit.session, unit.caller, query["month"],
                                     query.get("group_by", "partner"))


def build(unit: UnitOfWork, report: str, query: dict) -> dict:
    month = query["month"]
    if report == "channels":
        return json.loads(_channel_json(unit, query))
    if report == "visits":
        return visit_report.build(unit.session, unit.caller, month)
    return ticket_report.build(unit.session, unit.caller, month)


def report_file(unit: UnitOfWork, report: str, query: dict):
    """The report itself for `format=json` (for channels: its JSON, sent as it is);
    otherwise a file (CSV, XLSX, PNG, SVG)."""
    if report == "channels" and query["format"] == "json":
        return JsonText(_channel_json(unit, query))
    built = build(unit, report, query)
    return built if query["format"] == "json" else exports.as_file(built, query["format"])
