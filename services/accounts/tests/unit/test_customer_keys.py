"""Keys for duplicate customer detection, without I/O."""
import pytest

from accounts.customer_keys import name_key, phone_key, similarity_score, tax_key


def test_chinese_legal_forms_and_spacing_make_no_difference():
    assert (
        name_key("上海华为技术有限公司")
        == name_key("上海华为技术股份有限公司")
        == name_key("上海 华为技术 有限公司")
        == "上海华为技术"
    )
    assert name_key("上海华为技术有限责任公司") == "上海华为技术"
    assert name_key("华润集团") == "华润"
    assert name_key("华润集团有限公司") == name_key("华润集团股份有限公司") == "华润"
    assert name_key("中国石油天然气集团公司") == "中国石油天然气"


def test_full_width_case_punctuation_and_latin_legal_forms_make_no_difference():
    assert name_key("ＡＢＣ Trading Co., Ltd.") == name_key("abc trading ltd") == "abctrading"
    assert name_key("ABC TRADING COMPANY LIMITED") == "abctrading"
    assert name_key("Acme Group, Inc.") == name_key("ACME Corp") == "acme"
    assert name_key("Müller GmbH") == "müller"
    assert name_key("ＡＢＣ（上海）有限公司") == name_key("ABC (上海) 有限公司") == "abc上海"
    assert name_key("「华为」·技术、有限公司。") == "华为技术"


def test_mixed_chinese_and_latin_names():
    assert name_key("TCL科技集团股份有限公司") == "tcl科技"
    assert name_key("3M中国有限公司") == "3m中国"
    assert name_key("华为 Technologies Co., Ltd.") == "华为technologies"


def test_a_suffix_stays_when_fewer_than_two_characters_would_remain():
    assert name_key("集团") == "集团"
    assert name_key("有限公司") == "有限公司"
    assert name_key("Co., Ltd.") == "coltd"
    assert name_key("Inc.") == "inc"


def test_a_branch_keeps_its_parents_legal_form_inside():
    # Only the trailing 分公司 goes; the branch stays close to its parent by trigrams.
    key = name_key("华为技术有限公司深圳分公司")
    assert key == "华为技术有限公司深圳"
    assert similarity_score(key, name_key("华为技术有限公司")) > 0.3


def test_latin_suffixes_take_word_ends_alike_in_every_spelling():
    # Matching on the joined string: "co" goes from "Tesco" too, in every spelling alike.
    assert name_key("Tesco") == name_key("TESCO Co., Ltd.") == "tes"


@pytest.mark.parametrize("name", ["", "  ", "\u3000", "（）", "--- ...", "\u200b"])
def test_nothing_left_gives_an_empty_key(name):
    assert name_key(name) == ""


@pytest.mark.parametrize("name", [
    "上海华为技术股份有限公司", "ＡＢＣ Trading Co., Ltd.", "集团", "有限公司", "Co., Ltd.",
    "华为技术有限公司深圳分公司", "Straße GmbH", "ǰ Group", "ﬁne Company", "Tesco", "  ",
    "ACME Inc. Group Co.", "Ⅻ 公司",
])
def test_name_key_is_idempotent(name):
    assert name_key(name_key(name)) == name_key(name)


@pytest.mark.parametrize(("phone", "key"), [
    ("+86 138-0013-8000", "13800138000"),
    ("0086 13800138000", "13800138000"),
    ("8613800138000", "13800138000"),
    ("138 0013 8000", "13800138000"),
    ("１３８００１３８０００", "13800138000"),
    ("(021) 6888-1234", "02168881234"),
    ("021-6888 1234", "02168881234"),
    ("+86 21 6888 1234", "862168881234"),  # a landline keeps its digits, country code too
    ("12345", "12345"),
    ("1234", None),
    ("abc", None),
    ("", None),
    (None, None),
])
def test_phone_key(phone, key):
    assert phone_key(phone) == key


@pytest.mark.parametrize(("tax_id", "key"), [
    ("91440300 708461136T", "91440300708461136T"),
    ("91440300-7084-6113-6t", "91440300708461136T"),
    ("９１４４０３００７０８４６１１３６ｔ", "91440300708461136T"),
    ("  ", None),
    ("", None),
    (None, None),
])
def test_tax_key(tax_id, key):
    assert tax_key(tax_id) == key


def test_similarity_counts_shared_padded_trigrams():
    assert similarity_score("abc", "abc") == 1.0
    assert similarity_score("上海华为技术", "上海华为技术") == 1.0
    # "  abc " and "  abd ": {"  a", " ab", "abc", "bc "} and {"  a", " ab", "abd", "bd "}
    assert similarity_score("abc", "abd") == pytest.approx(2 / 6)
    # 7 trigrams against 5, 3 shared: 华为技, 为技术, "技术 "
    assert similarity_score("上海华为技术", "华为技术") == pytest.approx(3 / 9)
    assert similarity_score("ABC", "abc") == 1.0
    assert similarity_score("", "") == 0.0
    assert similarity_score("abc", "") == 0.0


def test_unrelated_names_score_low():
    pairs = [
        ("上海华为技术有限公司", "北京小米科技有限责任公司"),
        ("ABC Trading Co., Ltd.", "Zhejiang Geely Holding Group"),
        ("华润集团", "中国平安保险股份有限公司"),
    ]
    for a, b in pairs:
        assert similarity_score(name_key(a), name_key(b)) < 0.2
