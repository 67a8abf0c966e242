"""Parse and validate an uploaded store list (CSV or XLSX) for a bulk store import.

Pure: no database, no network. The caller gets every valid row in a canonical shape plus
every problem of every row, so a user can fix the whole file in one go instead of
resubmitting it once per mistake. Problems that make the file as a whole unusable
(encoding, format, header, size) raise `StoreFileError` instead.

Row numbers are the row numbers a spreadsheet shows: with the header on the first line it
is row 1 and the first data row is row 2; blank rows are skipped but still take up their
number, and a CSV record whose quoted cell spans several lines counts as one row.

20,000 rows is a routine upload, so per-row validation is plain Python (no schema library)
and the common all-valid path does as little work per cell as possible.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from crmkit.tabular import Records, TableFileError, map_header, read_records

MAX_ROWS = 50_000

FIELDS = ("code", "name", "partner_code", "address", "lat", "lon", "region", "brand_center",
          "owner_id", "status", "products", "staff")
REQUIRED_COLUMNS = ("code", "name", "partner_code")

_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "store_code", "门店编码", "门店代码", "编码"),
    "name": ("name", "store_name", "门店名称", "名称"),
    "partner_code": ("partner_code", "partner", "渠道商编码", "所属渠道商编码", "渠道编码"),
    "address": ("address", "地址", "门店地址"),
    "lat": ("lat", "latitude", "纬度"),
    "lon": ("lon", "lng", "longitude", "经度"),
    "region": ("region", "大区", "区域"),
    "brand_center": ("brand_center", "品牌管理中心", "品牌中心"),
    "owner_id": ("owner_id", "负责人id", "负责人ID"),
    "status": ("status", "状态"),
    "products": ("products", "经营产品", "产品"),
    "staff": ("staff", "店员", "人员"),
}

_CODE_RE = re.compile(r"[A-Za-z0-9._-]+")
# Plain decimal notation only: float() alone would also take "nan", "inf", "1e3", "1_0"
# and non-ASCII digits.
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DIGITS_RE = re.compile(r"[0-9]+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f]")
_ITEM_SEPARATORS_RE = re.compile(r"[,，;；、|]")

_MAX_BIGINT = 2**63 - 1
_STATUSES = {
    "active": "active", "营业": "active", "正常": "active",
    "inactive": "inactive", "停业": "inactive", "暂停": "inactive",
    "closed": "closed", "关闭": "closed", "闭店": "closed",
}


# The file as a whole is unusable (encoding, format, missing columns, too many rows).
StoreFileError = TableFileError


@dataclass
class ParsedStores:
    """`rows`: the valid rows, keys "row" + FIELDS. `errors`: {"row", "field", "message"}
    for every problem, sorted by row then field. `total`: data rows seen (blank ones not
    counted), valid or not."""

    rows: list[dict]
    errors: list[dict]
    total: int


def parse_store_file(content: bytes, filename: str | None = None) -> ParsedStores:
    """Parse `content` (an XLSX workbook or CSV text) into valid rows and row errors.

    The format is decided by the content alone; `filename` only sharpens error messages,
    because browsers and users get extensions wrong often enough."""
    records = read_records(content, filename)
    # closing(): a generator abandoned by an exception still releases the open workbook.
    with contextlib.closing(records):
        return _validate_records(records)


# --- rows ------------------------------------------------------------------------------

def _validate_records(records: Records) -> ParsedStores:
    for _, cells in records:
        if _has_content(cells):
            columns = map_header(cells, FIELDS, _ALIASES, REQUIRED_COLUMNS)
            break
    else:
        raise StoreFileError("the file has no data rows")

    rows: list[dict] = []
    errors: list[dict] = []
    first_row_by_code: dict[str, int] = {}
    total = 0
    for row_number, cells in records:
        width = len(cells)
        texts = [cells[i].strip() if i < width else "" for i in columns]
        if not any(texts) and not _has_content(cells):
            continue
        total += 1
        if total > MAX_ROWS:
            raise StoreFileError(f"the file has more than {MAX_ROWS} data rows; "
                                 "split it into smaller files")
        values, problems = _check_row(row_number, texts)
        code = values["code"]
        if code is not None:
            # Codes are case-sensitive, but "S1" next to "s1" in one upload is a typo far
            # more often than two stores.
            first = first_row_by_code.setdefault(code.lower(), row_number)
            if first != row_number:
                problems["code"] = f"duplicate of row {first}"
        if problems:
            errors.extend({"row": row_number, "field": field, "message": message}
                          for field, message in sorted(problems.items()))
        else:
            rows.append(values)

    if total == 0:
        raise StoreFileError("the file has no data rows")
    return ParsedStores(rows=rows, errors=errors, total=total)


def _has_content(cells: list[str]) -> bool:
    return any(cell.strip() for cell in cells)


def _check_row(row_number: int, texts: list[str]) -> tuple[dict, dict[str, str]]:
    """The row's clean values and its {field: problem}; the values mean nothing if there
    are problems.

    Each check returns the clean value and files its problem, if any, under its field.
    One call per cell and no intermediate structures: this is the hot loop of an import.
    """
    (code, name, partner_code, address, lat, lon, region, brand_center, owner_id, status,
     products, staff) = texts
    problems: dict[str, str] = {}
    values = {
        "row": row_number,
        "code": _code(code, "code", problems),
        "name": _required_text(name, "name", 200, problems),
        "partner_code": _code(partner_code, "partner_code", problems),
        "address": _optional_text(address, "address", 500, problems),
        "lat": _coordinate(lat, "lat", 90, lon, "lon", problems),
        "lon": _coordinate(lon, "lon", 180, lat, "lat", problems),
        "region": _optional_text(region, "region", 100, problems),
        "brand_center": _optional_text(brand_center, "brand_center", 100, problems),
        "owner_id": _owner_id(owner_id, "owner_id", problems),
        "status": _status(status, "status", problems),
        "products": _items(products, "products", problems),
        "staff": _items(staff, "staff", problems),
    }
    # One test over the joined row keeps the clean path cheap (isprintable() is a fast
    # C-level pre-filter; it also fails on e.g. U+3000, hence the regex); fields are located
    # only on a hit. Runs last so that this is the problem reported for such a field.
    joined = "".join(texts)
    if not joined.isprintable() and _CONTROL_RE.search(joined):
        for field, text in zip(FIELDS, texts, strict=True):
            if _CONTROL_RE.search(text):
                problems[field] = "must not contain control characters"
    return values, problems


def _code(text: str, field: str, problems: dict[str, str]) -> str | None:
    if not text:
        problems[field] = "is required"
    elif len(text) > 64:
        problems[field] = "must be at most 64 characters"
    elif not _CODE_RE.fullmatch(text):
        problems[field] = "may contain only letters, digits, '-', '_' and '.'"
    else:
        return text
    return None


def _required_text(text: str, field: str, max_length: int, problems: dict[str, str]
                   ) -> str | None:
    if not text:
        problems[field] = "is required"
        return None
    return _optional_text(text, field, max_length, problems)


def _optional_text(text: str, field: str, max_length: int, problems: dict[str, str]
                   ) -> str | None:
    if len(text) > max_length:
        problems[field] = f"must be at most {max_length} characters"
        return None
    return text or None


def _owner_id(text: str, field: str, problems: dict[str, str]) -> int | None:
    if not text:
        return None
    if not _DIGITS_RE.fullmatch(text):
        problems[field] = "must be a whole number"
        return None
    # The length guard also keeps int() clear of its digit limit on absurd input.
    value = int(text) if len(text.lstrip("0")) <= 19 else 0
    if not 1 <= value <= _MAX_BIGINT:
        problems[field] = f"must be between 1 and {_MAX_BIGINT}"
        return None
    return value


def _status(text: str, field: str, problems: dict[str, str]) -> str | None:
    if not text:
        return "active"
    status = _STATUSES.get(text.lower())
    if status is None:
        problems[field] = f"unknown status {text!r}; use active, inactive or closed"
    return status


def _items(text: str, field: str, problems: dict[str, str]) -> list[str]:
    if not text:
        return []
    items = [part.strip() for part in _ITEM_SEPARATORS_RE.split(text)]
    if "" in items:
        items = [item for item in items if item]
    # A cell of at most 100 characters can hold neither a long item nor 100+ items, which
    # spares the common case the per-item scan.
    if len(text) > 100:
        if len(items) > 100:
            problems[field] = "must have at most 100 items"
        elif max(map(len, items), default=0) > 100:
            problems[field] = "each item must be at most 100 characters"
    return items


def _coordinate(text: str, field: str, limit: int, other_text: str, other_field: str,
                problems: dict[str, str]) -> float | None:
    if not text:
        # A point needs both halves; half a point is more likely a shifted column than
        # intent.
        if other_text:
            problems[field] = f"is required when {other_field} is given"
        return None
    if not _DECIMAL_RE.fullmatch(text):
        problems[field] = "must be a decimal number"
        return None
    value = float(text)
    if not -limit <= value <= limit:
        problems[field] = f"must be between -{limit} and {limit}"
        return None
    # float() of a literal with at most 7 decimals is already the value round() would give;
    # skipping round() there matters at 40,000 coordinates per upload.
    dot = text.find(".")
    if dot != -1 and len(text) - dot > 8:
        value = round(value, 7)
    return value + 0.0  # + 0.0 turns "-0" into 0.0
