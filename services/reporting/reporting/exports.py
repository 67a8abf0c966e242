"""A report as a file the gateway sends as is: JSON, CSV (UTF-8 with BOM, so Excel reads
the Chinese headers), XLSX, or a chart (PNG/SVG). Answered as
`{filename, content_type, content_base64}`."""
import base64
import csv
import io
import json
import re

import openpyxl

from reporting.report_tables import tables_of

CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
    "svg": "image/svg+xml",
}
FORMATS = tuple(CONTENT_TYPES)
# Excel caps sheet titles at 31 characters and forbids a few.
_MONEY = re.compile(r"^\d{1,15}\.\d{2}$")
_SHEET_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


def to_csv(report: dict) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    for index, table in enumerate(tables_of(report)):
        if index:
            writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(table.headers)
        writer.writerows(table.rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _cell(value):
    # Money travels as strings with two places; a spreadsheet should sum them.
    if isinstance(value, str) and _MONEY.match(value):
        return float(value)
    return value


def to_xlsx(report: dict) -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    for table in tables_of(report):
        sheet = workbook.create_sheet(table.title.translate(_SHEET_FORBIDDEN)[:31])
        sheet.append(table.headers)
        for row in table.rows:
            sheet.append([_cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def render(report: dict, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False).encode("utf-8")
    if fmt == "csv":
        return to_csv(report)
    if fmt == "xlsx":
        return to_xlsx(report)
    # matplotlib takes ~0.5 s to import: a process pays it with its first chart, not at
    # every start (a service restarted after a crash consumes that much sooner).
    from reporting import charts  # noqa: PLC0415 (deferred on purpose, above)
    return charts.render(report, fmt)


def as_file(report: dict, fmt: str) -> dict:
    name = f"{report['report']}-{report['month']}"
    if report.get("group_by"):
        name += f"-{report['group_by']}"
    return {"filename": f"{name}.{fmt}", "content_type": CONTENT_TYPES[fmt],
            "content_base64": base64.b64encode(render(report, fmt)).decode("ascii")}
