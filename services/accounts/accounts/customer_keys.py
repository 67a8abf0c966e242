"""Normalised keys for spotting duplicate customers, with no I/O.

The database stores these keys next to each customer and PostgreSQL's pg_trgm compares them,
so the functions here define what "the same company" means:

- `name_key`: the company name without width, case, spacing, punctuation and legal form.
- `phone_key`: the digits of a phone number, without China's country code on mobiles.
- `tax_key`: the unified social credit code (or another tax id) as typed, tidied.
- `similarity_score`: pg_trgm's `similarity()` in Python, for tests and for explaining scores.
"""
import re
import unicodedata

# Legal forms stripped from the end of a name, on the casefolded string without spaces and
# punctuation. Latin forms match there too, so they may take the end of a word with them
# ("Tesco" -> "tes"); every spelling of the same name loses the same letters, so keys still
# match each other.
LEGAL_FORM_SUFFIXES = tuple(sorted(
    (
        "集团股份有限公司", "股份有限公司", "有限责任公司", "集团有限公司", "有限公司",
        "集团公司", "责任公司", "股份公司", "总公司", "分公司", "集团", "公司",
        "corporation", "limited", "company", "group", "coltd", "corp", "gmbh", "ltd", "inc",
        "llc", "co",
    ),
    key=len, reverse=True,
))
# A suffix is stripped only when at least this many characters stay ("集团" stays "集团").
MIN_NAME_KEY_LENGTH = 2

CHINA_COUNTRY_CODES = ("0086", "86")
CHINA_MOBILE = re.compile(r"1\d{10}")
MIN_PHONE_DIGITS = 5

_TAX_ID_NOISE = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_TRIGRAM_WORD = re.compile(r"[^\W_]+")


def _fold(text: str) -> str:
    # NFKC turns full-width forms into ASCII ("ＡＢＣ（上海）" -> "ABC(上海)"); the second NFKC
    # recomposes what casefolding decomposed, so a key normalises to itself.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def name_key(name: str) -> str:
    """The company name reduced for fuzzy matching: NFKC, casefolded, only letters, digits and
    combining marks kept (whitespace, punctuation, symbols, control characters go), then legal
    forms stripped from the end, longest first, for as long as one matches and at least two
    characters would remain. "" when nothing is left.

    A branch keeps its parent's legal form inside: "华为技术有限公司深圳分公司" ->
    "华为技术有限公司深圳". That is fine for trigram similarity with "华为技术".
    """
    key = "".join(ch for ch in _fold(name) if unicodedata.category(ch)[0] in "LNM")
    while True:
        suffix = next((s for s in LEGAL_FORM_SUFFIXES if key.endswith(s)), None)
        if suffix is None or len(key) - len(suffix) < MIN_NAME_KEY_LENGTH:
            return key
        key = key[: -len(suffix)]


def phone_key(phone: str | None) -> str | None:
    """The digits of a phone number (any script's digits, full-width included). A leading
    +86/0086/86 goes when what follows is an 11-digit mobile number starting with 1; landline
    digits stay as they are ("021-6888 1234" -> "02168881234"). None when fewer than five
    digits remain."""
    if phone is None:
        return None
    digits = "".join(
        str(unicodedata.decimal(ch)) for ch in unicodedata.normalize("NFKC", phone)
        if ch.isdecimal()
    )
    for code in CHINA_COUNTRY_CODES:
        if digits.startswith(code) and CHINA_MOBILE.fullmatch(digits[len(code):]):
            digits = digits[len(code):]
            break
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def tax_key(tax_id: str | None) -> str | None:
    """A unified social credit code or other tax id: NFKC, without whitespace and hyphens
    (dashes of any kind), uppercase. None when nothing is left."""
    if tax_id is None:
        return None
    key = _TAX_ID_NOISE.sub("", unicodedata.normalize("NFKC", tax_id)).upper()
    return key or None


def _trigrams(text: str) -> set[str]:
    # As pg_trgm does it: lowercase, split into words of letters and digits, pad each word
    # with two spaces in front and one behind. A key is a single word.
    grams = set()
    for word in _TRIGRAM_WORD.findall(text.lower()):
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def similarity_score(a: str, b: str) -> float:
    """pg_trgm's `similarity(a, b)`: shared trigrams over all distinct trigrams of both, 0.0
    when either has none. For tests and explanations; the service asks PostgreSQL."""
    grams_a, grams_b = _trigrams(a), _trigrams(b)
    if not grams_a or not grams_b:
        return 0.0
    shared = len(grams_a & grams_b)
    return shared / (len(grams_a) + len(grams_b) - shared)
