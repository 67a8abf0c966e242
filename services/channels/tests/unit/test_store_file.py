"""Store-list upload parsing and validation, on in-memory files only."""
import io
import zipfile

import openpyxl
import pytest

from channels import store_file
from channels.store_file import MAX_ROWS, ParsedStores, StoreFileError, parse_store_file

HEADER = "code,name,partner_code"


def csv_file(*lines: str, encoding: str = "utf-8") -> bytes:
    return "\n".join(lines).encode(encoding)


def xlsx_file(*rows: list) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def errors_of(parsed: ParsedStores) -> list[tuple[int, str, str]]:
    return [(e["row"], e["field"], e["message"]) for e in parsed.errors]


def fields_in_error(content: bytes) -> set[str]:
    return {e["field"] for e in parse_store_file(content).errors}


# --- encodings and formats ---------------------------------------------------------------

def test_utf8_with_bom_and_chinese_headers():
    content = "\ufeff门店编码,门店名称,渠道商编码,地址,纬度,经度,状态,经营产品,店员\n" \
              "S1,南京路店,P1,上海市南京东路1号,31.2304,121.4737,营业,冰箱,张三\n"
    parsed = parse_store_file(content.encode("utf-8"))
    assert parsed.errors == []
    assert parsed.total == 1
    assert parsed.rows == [{
        "row": 2, "code": "S1", "name": "南京路店", "partner_code": "P1",
        "address": "上海市南京东路1号", "lat": 31.2304, "lon": 121.4737, "region": None,
        "brand_center": None, "owner_id": None, "status": "active", "products": ["冰箱"],
        "staff": ["张三"],
    }]


def test_gbk_encoded_file_from_chinese_excel():
    content = csv_file("门店编码,门店名称,所属渠道商编码,大区", "S1,门店一,P1,华东", encoding="gbk")
    parsed = parse_store_file(content, "stores.csv")
    assert parsed.errors == []
    assert (parsed.rows[0]["name"], parsed.rows[0]["region"]) == ("门店一", "华东")


def test_bytes_that_are_neither_utf8_nor_gb18030_are_rejected():
    with pytest.raises(StoreFileError) as caught:
        parse_store_file(b"code,name,partner_code\nS1,\xff\xfe\x80,P1\n")
    assert caught.value.message == "the file is neither UTF-8 nor GBK/GB18030 text"


def test_binary_content_is_rejected_whatever_its_name():
    with pytest.raises(StoreFileError) as caught:
        parse_store_file(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "stores.csv")
    assert caught.value.message == "not a CSV or XLSX file"


def test_legacy_xls_gets_a_hint():
    with pytest.raises(StoreFileError, match="save it as .xlsx"):
        parse_store_file(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "stores.xls")


def test_tab_and_semicolon_delimiters_are_sniffed_from_the_header():
    for delimiter in ("\t", ";"):
        content = csv_file(delimiter.join(["code", "name", "partner_code", "products"]),
                           delimiter.join(["S1", "Store, One", "P1", "a,b"]))
        parsed = parse_store_file(content)
        assert parsed.errors == []
        assert parsed.rows[0]["name"] == "Store, One"
        assert parsed.rows[0]["products"] == ["a", "b"]


def test_xlsx_with_numeric_cells():
    content = xlsx_file(
        ["Code", "Name", "Partner_Code", "Lat", "Lon", "Owner_ID", "Status", "Remark"],
        [1001, "Store A", "P1", 31.2304, 121.4737, 42, "Inactive", "ignored"],
        [1002.0, "Store B", 7, 31, -121.5, None, None, None],
    )
    parsed = parse_store_file(content, "stores.csv")  # detected by content, not by name
    assert parsed.errors == []
    first, second = parsed.rows
    assert (first["row"], first["code"], first["lat"], first["lon"]) == (2, "1001", 31.2304,
                                                                        121.4737)
    assert (first["owner_id"], first["status"]) == (42, "inactive")
    assert (second["row"], second["code"], second["partner_code"]) == (3, "1002", "7")
    assert (second["lat"], second["lon"], second["status"]) == (31.0, -121.5, "active")


def test_xlsx_rows_keep_excel_numbers_across_blank_rows():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["code", "name", "partner_code"])
    sheet["A4"], sheet["B4"], sheet["C4"] = "S1", "Store", "P1"
    sheet["A5"], sheet["C5"] = "S2", "P1"
    out = io.BytesIO()
    workbook.save(out)
    parsed = parse_store_file(out.getvalue())
    assert parsed.total == 2
    assert [row["row"] for row in parsed.rows] == [4]
    assert errors_of(parsed) == [(5, "name", "is required")]


def test_zip_that_is_not_a_workbook_is_rejected():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(StoreFileError, match="not a readable XLSX workbook"):
        parse_store_file(out.getvalue(), "stores.xlsx")


def test_truncated_zip_is_rejected():
    content = xlsx_file(["code", "name", "partner_code"], ["S1", "Store", "P1"])
    with pytest.raises(StoreFileError, match="not a readable XLSX workbook"):
        parse_store_file(content[: len(content) // 2])


@pytest.mark.parametrize("lines, expected", [
    ((HEADER, 'S1,"Store,P1', "S2,Store,P1"),
     "malformed CSV at line 2: a quoted cell is never closed"),
    ((HEADER, "S1,Store,P1", 'S2,"Sto"re,P1'), "malformed CSV at line 3: "),
])
def test_malformed_quotes_name_the_line(lines, expected):
    with pytest.raises(StoreFileError) as caught:
        parse_store_file(csv_file(*lines))
    assert caught.value.message.startswith(expected)


# --- header ------------------------------------------------------------------------------

def test_missing_required_columns_are_named_with_accepted_names():
    with pytest.raises(StoreFileError) as caught:
        parse_store_file(csv_file("code,address", "S1,somewhere"))
    message = caught.value.message
    assert "name, partner_code" in message
    assert "门店名称" in message and "渠道商编码" in message


def test_a_field_given_twice_is_rejected():
    with pytest.raises(StoreFileError, match="'code' is given twice"):
        parse_store_file(csv_file("code,name,partner_code,门店编码", "S1,Store,P1,S2"))


def test_headers_are_case_and_space_insensitive_and_unknown_columns_ignored():
    content = csv_file(" Store_Code , NAME ,partner,备注,负责人ID", "S1,Store,P1,whatever,7")
    parsed = parse_store_file(content)
    assert parsed.errors == []
    assert parsed.rows[0]["owner_id"] == 7


@pytest.mark.parametrize("content", [b"", b"\n\n", csv_file(HEADER), csv_file(HEADER, ",,", "")])
def test_file_without_data_rows_is_rejected(content):
    with pytest.raises(StoreFileError) as caught:
        parse_store_file(content)
    assert caught.value.message == "the file has no data rows"


def test_more_than_max_rows_is_rejected(monkeypatch):
    monkeypatch.setattr(store_file, "MAX_ROWS", 3)
    ok = csv_file(HEADER, *(f"S{i},Store,P1" for i in range(3)))
    assert parse_store_file(ok).total == 3
    with pytest.raises(StoreFileError, match="more than 3 data rows"):
        parse_store_file(csv_file(HEADER, *(f"S{i},Store,P1" for i in range(4))))


# --- rows --------------------------------------------------------------------------------

def test_rows_are_numbered_as_in_excel_and_blank_lines_are_skipped():
    content = csv_file(HEADER, "S1,Store,P1", "", " , , ", "S2,,P1", "S3,Store,P1", "")
    parsed = parse_store_file(content)
    assert parsed.total == 3
    assert [row["row"] for row in parsed.rows] == [2, 6]
    assert errors_of(parsed) == [(5, "name", "is required")]


def test_valid_rows_have_exactly_the_canonical_keys():
    parsed = parse_store_file(csv_file(HEADER, "S1,Store,P1"))
    assert list(parsed.rows[0]) == ["row", "code", "name", "partner_code", "address", "lat",
                                    "lon", "region", "brand_center", "owner_id", "status",
                                    "products", "staff"]
    assert parsed.rows[0]["products"] == [] and parsed.rows[0]["staff"] == []


def test_every_problem_of_every_row_is_reported_sorted_by_row_then_field():
    content = csv_file("code,name,partner_code,lat,lon,status,owner_id",
                       "bad code!,,P 1,91,0,gone,0",
                       "S1,Store,P1,,,,",
                       ",Store,P1,1,,active,x")
    parsed = parse_store_file(content)
    assert [row["row"] for row in parsed.rows] == [3]
    assert errors_of(parsed) == [
        (2, "code", "may contain only letters, digits, '-', '_' and '.'"),
        (2, "lat", "must be between -90 and 90"),
        (2, "name", "is required"),
        (2, "owner_id", "must be between 1 and 9223372036854775807"),
        (2, "partner_code", "may contain only letters, digits, '-', '_' and '.'"),
        (2, "status", "unknown status 'gone'; use active, inactive or closed"),
        (4, "code", "is required"),
        (4, "lon", "is required when lat is given"),
        (4, "owner_id", "must be a whole number"),
    ]
    assert parsed.total == 3


def test_duplicate_codes_are_found_case_insensitively():
    content = csv_file(HEADER, "S-1,A,P1", "S2,B,P1", "s-1,C,P1", "S-1,D,P1", "s2,E,P1")
    parsed = parse_store_file(content)
    assert [row["code"] for row in parsed.rows] == ["S-1", "S2"]
    assert errors_of(parsed) == [(4, "code", "duplicate of row 2"),
                                 (5, "code", "duplicate of row 2"),
                                 (6, "code", "duplicate of row 3")]


def test_a_duplicate_of_an_invalid_row_is_still_a_duplicate():
    parsed = parse_store_file(csv_file(HEADER, "S1,,P1", "S1,Store,P1"))
    assert errors_of(parsed) == [(2, "name", "is required"), (3, "code", "duplicate of row 2")]


def test_code_and_partner_code_character_rule_and_length():
    content = csv_file(HEADER, f"{'a' * 64},Store,P_1.x-2", f"{'a' * 65},Store,P1",
                       "S3,Store,渠道1", "S4 x,Store,P1")
    parsed = parse_store_file(content)
    assert [row["row"] for row in parsed.rows] == [2]
    assert [(e["row"], e["field"]) for e in parsed.errors] == [
        (3, "code"), (4, "partner_code"), (5, "code")]
    assert parsed.errors[0]["message"] == "must be at most 64 characters"


def test_text_length_limits():
    content = csv_file("code,name,partner_code,address,region,brand_center",
                       f"S1,{'n' * 200},P1,{'a' * 500},{'r' * 100},{'b' * 100}",
                       f"S2,{'n' * 201},P1,{'a' * 501},{'r' * 101},{'b' * 101}")
    parsed = parse_store_file(content)
    assert [row["row"] for row in parsed.rows] == [2]
    assert errors_of(parsed) == [(3, "address", "must be at most 500 characters"),
                                 (3, "brand_center", "must be at most 100 characters"),
                                 (3, "name", "must be at most 200 characters"),
                                 (3, "region", "must be at most 100 characters")]


@pytest.mark.parametrize("lat, lon, problems", [
    ("31.2304", "121.4737", []),
    ("-90", "180", []),
    ("90.0000001", "0", [("lat", "must be between -90 and 90")]),
    ("0", "-180.5", [("lon", "must be between -180 and 180")]),
    ("abc", "1", [("lat", "must be a decimal number")]),
    ("nan", "inf", [("lat", "must be a decimal number"), ("lon", "must be a decimal number")]),
    ("1e1", "1", [("lat", "must be a decimal number")]),
    ("", "121", [("lat", "is required when lon is given")]),
    ("31", "", [("lon", "is required when lat is given")]),
])
def test_coordinates(lat, lon, problems):
    parsed = parse_store_file(csv_file("code,name,partner_code,latitude,lng",
                                       f"S1,Store,P1,{lat},{lon}"))
    assert [(e["field"], e["message"]) for e in parsed.errors] == problems


def test_coordinates_are_rounded_to_seven_decimals():
    parsed = parse_store_file(csv_file("code,name,partner_code,lat,lon",
                                       "S1,Store,P1,31.230412345,-0"))
    assert (parsed.rows[0]["lat"], parsed.rows[0]["lon"]) == (31.2304123, 0.0)


def test_no_coordinates_at_all_is_fine():
    parsed = parse_store_file(csv_file("code,name,partner_code,lat,lon", "S1,Store,P1,,"))
    assert (parsed.rows[0]["lat"], parsed.rows[0]["lon"]) == (None, None)


@pytest.mark.parametrize("text, status", [
    ("", "active"), ("Active", "active"), ("inactive", "inactive"), ("CLOSED", "closed"),
    ("营业", "active"), ("正常", "active"), ("停业", "inactive"), ("暂停", "inactive"),
    ("关闭", "closed"), ("闭店", "closed"),
])
def test_status_values(text, status):
    parsed = parse_store_file(csv_file("code,name,partner_code,状态", f"S1,Store,P1,{text}"))
    assert parsed.rows[0]["status"] == status


def test_bad_status():
    parsed = parse_store_file(csv_file("code,name,partner_code,status", "S1,Store,P1,open"))
    assert errors_of(parsed) == [(2, "status", "unknown status 'open'; use active, inactive "
                                               "or closed")]


@pytest.mark.parametrize("text, owner_id", [("7", 7), ("007", 7), (str(2**63 - 1), 2**63 - 1)])
def test_owner_id_valid(text, owner_id):
    parsed = parse_store_file(csv_file("code,name,partner_code,owner_id", f"S1,Store,P1,{text}"))
    assert parsed.rows[0]["owner_id"] == owner_id


@pytest.mark.parametrize("text", ["0", str(2**63), "9" * 5000, "-1", "1.5", "١٢"])
def test_owner_id_invalid(text):
    content = csv_file("code,name,partner_code,owner_id", f"S1,Store,P1,{text}")
    assert fields_in_error(content) == {"owner_id"}


def test_lists_split_on_all_separators_and_drop_empties():
    content = csv_file("code,name,partner_code,products,staff",
                       'S1,Store,P1,"冰箱, 洗衣机，空调;电视；热水器、烤箱|微波炉,,",张三 | 李四 ')
    parsed = parse_store_file(content)
    assert parsed.rows[0]["products"] == ["冰箱", "洗衣机", "空调", "电视", "热水器", "烤箱",
                                          "微波炉"]
    assert parsed.rows[0]["staff"] == ["张三", "李四"]


def test_list_limits():
    many = "|".join(f"p{i}" for i in range(101))
    content = csv_file("code,name,partner_code,products,staff",
                       f"S1,Store,P1,{'|'.join(f'p{i}' for i in range(100))},{'x' * 100}",
                       f"S2,Store,P1,{many},{'x' * 101}")
    parsed = parse_store_file(content)
    assert [row["row"] for row in parsed.rows] == [2]
    assert len(parsed.rows[0]["products"]) == 100
    assert errors_of(parsed) == [(3, "products", "must have at most 100 items"),
                                 (3, "staff", "each item must be at most 100 characters")]


def test_control_characters_are_rejected_but_tabs_are_not():
    content = csv_file("code,name,partner_code,address",
                       'S1,Store\tOne,P1,"line one\nline two"', "S2,Bad\x07Name,P1,")
    parsed = parse_store_file(content)
    assert parsed.rows == []
    assert errors_of(parsed) == [(2, "address", "must not contain control characters"),
                                 (3, "name", "must not contain control characters")]


def test_control_character_in_a_coordinate_is_the_one_problem_reported():
    content = csv_file("code,name,partner_code,lat,lon", "S1,Store,P1,3\x011,121")
    parsed = parse_store_file(content)
    assert errors_of(parsed) == [(2, "lat", "must not contain control characters")]


def test_short_rows_read_missing_cells_as_empty():
    parsed = parse_store_file(csv_file("code,name,partner_code,address", "S1,Store,P1"))
    assert parsed.rows[0]["address"] is None


def test_twenty_thousand_rows_parse_without_errors():
    lines = [HEADER + ",address,lat,lon,region,brand_center,owner_id,status,products,staff"]
    lines += [f"S{i:06d},门店{i},P{i % 300},上海市浦东新区张江路{i}号,{31 + i % 100 / 1000:.4f},"
              f"{121 + i % 100 / 1000:.4f},华东,上海品牌中心,{1000 + i % 50},active,"
              f'"冰箱,洗衣机、空调",张三;李四' for i in range(20_000)]
    parsed = parse_store_file(csv_file(*lines))
    assert parsed.errors == []
    assert parsed.total == len(parsed.rows) == 20_000
    assert parsed.rows[-1]["row"] == 20_001
    assert MAX_ROWS == 50_000
