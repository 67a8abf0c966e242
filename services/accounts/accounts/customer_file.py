"""Customers to and from CSV/XLSX files. Reading: `crmkit.tabular` gives the records, each
row is validated with the same schema as `POST /customers` (so a file accepts exactly
what the API accepts), problems reported per row and field. Writing: CSV with a UTF-8 BOM
(Excel then reads the Chinese headers) or XLSX."""
import contextlib
import csv
import io

import openpyxl
from marshmallow import ValidationError

from accounts.schemas import ContactCreateSchema, CustomerCreateSchema
from crmkit.tabular import TableFileError, map_header, read_records
from crmkit.validation import flatten_messages

MAX_IMPORT_ROWS = 5_000
CUSTOMER_FIELDS = ("name", "type", "industry", "grade", "phone", "tax_id", "address", "lat",
                   "lon", "owner_id")
CONTACT_FIELDS = ("contact_name", "contact_title", "contact_phone", "contact_email")
FIELDS = CUSTOMER_FIELDS + CONTACT_FIELDS
ALIASES = {
    "name": ("name", "customer_name", "客户名称", "名称"),
    "type": ("type", "客户类型", "类型"),
    "industry": ("industry", "行业"),
    "grade": ("grade", "客户等级", "等级"),
    "phone": ("phone", "电话", "联系电话"),
    "tax_id": ("tax_id", "税号", "统一社会信用代码"),
    "address": ("address", "地址"),
    "lat": ("lat", "latitude", "纬度"),
    "lon": ("lon", "lng", "longitude", "经度"),
    "owner_id": ("owner_id", "负责人id"),
    "contact_name": ("contact_name", "联系人"),
    "contact_title": ("contact_title", "联系人职务", "职务"),
    "contact_phone": ("contact_phone", "联系人电话"),
    "contact_email": ("contact_email", "联系人邮箱", "邮箱"),
}
EXPORT_COLUMNS = (("code", "客户编码"), ("name", "客户名称"), ("type", "客户类型"),
                  ("industry", "行业"), ("grade", "客户等级"), ("phone", "电话"),
                  ("tax_id", "税号"), ("address", "地址"), ("owner_id", "负责人ID"),
                  ("parent_id", "上级客户ID"), ("created_at", "创建时间"))

customer_schema = CustomerCreateSchema()
contact_schema = ContactCreateSchema()


def _load(schema, values: dict, row: int, prefix: str, errors: list) -> dict | None:
    try:
        return schema.load(values)
    except ValidationError as exc:
        for field, problems in flatten_messages(exc.messages).items():
            errors.extend({"row": row, "field": prefix + field, "message": problem}
                          for problem in problems)
        return None


def parse_customers(content: bytes, filename: str | None = None) -> tuple[list, list, int]:
    """`(rows, errors, total)`: rows are `(row_number, customer, contact | None)` validated
    like the API's bodies; errors `{row, field, message}`. TableFileError for a file that
    cannot be read at all."""
    rows, errors, total, columns = [], [], 0, None
    with contextlib.closing(read_records(content, filename)) as records:
        for number, cells in records:
            if not any(c.strip() for c in cells):
                continue
            if columns is None:
                columns = map_header(cells, FIELDS, ALIASES, ("name",))
                continue
            total += 1
            if total > MAX_IMPORT_ROWS:
                raise TableFileError(f"more than {MAX_IMPORT_ROWS} customers in one file")
            texts = {f: (cells[i].strip() if i < len(cells) else "")
                     for f, i in zip(FIELDS, columns, strict=True)}
            values = {f: texts[f] for f in CUSTOMER_FIELDS if texts[f]}
            if values.get("owner_id", "").isdigit():
                values["owner_id"] = int(values["owner_id"])  # the API takes a JSON integer
            customer = _load(customer_schema, values, number, "", errors)
            contact = None
            if any(texts[f] for f in CONTACT_FIELDS):
                contact = _load(contact_schema, {f.removeprefix("contact_"): texts[f]
                                                 for f in CONTACT_FIELDS if texts[f]},
                                number, "contact_", errors)
            if customer is not None:
                rows.append((number, customer, contact))
    if columns is None:
        raise TableFileError("the file has no header row")
    if total == 0:
        raise TableFileError("the file has no data rows")
    return rows, sorted(errors, key=lambda e: (e["row"], e["field"])), total


def export_csv(records: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([title for _, title in EXPORT_COLUMNS])
    for record in records:
        writer.writerow(["" if record.get(k) is None else record.get(k)
                         for k, _ in EXPORT_COLUMNS])
    # The BOM makes Excel read the file as UTF-8 (Chinese headers and names intact).
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_xlsx(records: list[dict]) -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("客户")
    sheet.append([title for _, title in EXPORT_COLUMNS])
    for record in records:
        sheet.append([record.get(k) for k, _ in EXPORT_COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
