"""Reading an uploaded table (CSV or XLSX) for bulk imports: the bytes become
`(row_number, cells)` records, whatever the format and encoding, and a header row maps to
canonical field names through aliases (English or Chinese column titles). Pure.

Row numbers are the ones a spreadsheet shows (header = row 1); blank rows keep their
number; a CSV record whose quoted cell spans lines counts as one row. CSV is UTF-8 (with
or without BOM) or GBK/GB18030, the encodings Chinese Excel writes; the delimiter is a
comma unless the header has only tabs or semicolons. XLSX: the first worksheet.
"""
from __future__ import annotations

import csv
import io
import sys
import zipfile
from collections.abc import Iterator

import openpyxl

_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls (and other Office 97-2003 files)
_SNIFF_BYTES = 4096
# Index given to a field whose column is absent: never < len(cells), so it reads as "".
ABSENT = sys.maxsize


class TableFileError(Exception):
    """The file as a whole is unusable (encoding, format, missing columns, too many rows)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


Records = Iterator[tuple[int, list[str]]]


def read_records(content: bytes, filename: str | None = None) -> Records:
    """The records of `content` (an XLSX workbook or CSV text). The format is decided by
    the content alone; `filename` only sharpens error messages. Use it inside
    `contextlib.closing()` so an abandoned read still releases the workbook."""
    if content.startswith(_ZIP_MAGIC):
        return _xlsx_records(content)
    _reject_binary(content, filename)
    return _csv_records(content)


def map_header(cells: list[str], fields: tuple[str, ...], aliases: dict[str, tuple[str, ...]],
               required: tuple[str, ...]) -> list[int]:
    """Column index of each of `fields` (in that order), ABSENT for absent optional ones."""
    by_alias = {alias.lower(): field for field, names in aliases.items() for alias in names}
    found: dict[str, tuple[int, str]] = {}
    for index, cell in enumerate(cells):
        title = cell.strip().lstrip("\ufeff").strip()
        field = by_alias.get(title.lower())
        if field is None:
            continue  # extra columns (notes, computed columns...) are allowed
        if field in found:
            raise TableFileError(f"column {field!r} is given twice "
                                 f"(as {found[field][1]!r} and {title!r})")
        found[field] = (index, title)
    missing = [field for field in required if field not in found]
    if missing:
        accepted = "; ".join(f"{field}: {', '.join(dict.fromkeys(aliases[field]))}"
                             for field in missing)
        raise TableFileError(f"missing required column(s) {', '.join(missing)} "
                             f"(accepted names: {accepted})")
    return [found[field][0] if field in found else ABSENT for field in fields]


def _reject_binary(content: bytes, filename: str | None) -> None:
    head = content[:_SNIFF_BYTES]
    if b"\x00" not in head:
        return
    if head.startswith(_OLE2_MAGIC) or (filename or "").lower().endswith(".xls"):
        raise TableFileError("not a CSV or XLSX file (old .xls workbooks are not supported; "
                             "save it as .xlsx or CSV)")
    raise TableFileError("not a CSV or XLSX file")


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Excel on Chinese Windows saves "CSV" in the ANSI code page, i.e. GBK; GB18030 is a
    # superset of it.
    try:
        return content.decode("gb18030")
    except UnicodeDecodeError:
        raise TableFileError("the file is neither UTF-8 nor GBK/GB18030 text") from None


def _sniff_delimiter(text: str) -> str:
    header = next((line for line in io.StringIO(text) if line.strip()), "")
    if "," in header:
        return ","
    tabs, semicolons = header.count("\t"), header.count(";")
    if tabs or semicolons:
        return "\t" if tabs >= semicolons else ";"
    return ","


def _csv_records(content: bytes) -> Records:
    text = _decode(content)
    # strict: an unterminated quote would otherwise silently swallow the rest of the file
    # into one cell.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text),
                        strict=True)
    row_number = 0
    while True:
        # Report the line where the broken record starts; for an unclosed quote the
        # reader only notices at the end of the file.
        start_line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc)
            if reason == "unexpected end of data":
                reason = "a quoted cell is never closed"
            raise TableFileError(f"malformed CSV at line {start_line}: {reason}") from None
        row_number += 1
        yield row_number, cells


def _xlsx_records(content: bytes) -> Records:
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:
        # openpyxl surfaces a damaged or foreign zip as any of BadZipFile, KeyError,
        # XML parse errors, ValueError...; to the user they all mean the same thing.
        raise TableFileError("the file is a zip archive but not a readable XLSX workbook") \
            from exc
    try:
        if not workbook.worksheets:
            raise TableFileError("the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        # The stored dimension is written by the producing program and is sometimes wrong
        # (e.g. "A1:A1"); trusting it would silently drop rows or columns.
        sheet.reset_dimensions()
        # iter_rows starts at row 1 and fills gaps, so enumerate gives Excel's row number.
        rows = enumerate(sheet.iter_rows(values_only=True), start=1)
        while True:
            try:
                row_number, values = next(rows)
            except StopIteration:
                return
            except (zipfile.BadZipFile, OSError, SyntaxError, ValueError, LookupError) as exc:
                # SyntaxError covers xml.etree's ParseError on a corrupt sheet part,
                # LookupError a cell pointing past the shared-string table.
                raise TableFileError(f"the workbook is damaged: {exc}") from exc
            yield row_number, [_cell_text(value) for value in values]
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    # Excel keeps every number as a double, so a code typed as 1001 may arrive as 1001.0 and
    # must still read "1001".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
