"""marshmallow fields every service uses for the same kinds of values."""
import re
from decimal import Decimal

from marshmallow import ValidationError, fields, validate

MAX_ID = 2**63 - 1


class Id(fields.Integer):
    """A database id in 1..2^63-1 (ids beyond bigint would crash a query). Bodies must send
    a JSON integer; query strings (`strict=False`) send digits."""

    def __init__(self, strict: bool = True, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ID))
        super().__init__(strict=strict, **kwargs)


class Text(fields.String):
    """Trimmed text with a length limit; rejects control characters (NUL breaks PostgreSQL)."""

    def __init__(self, max_length: int = 200, min_length: int = 1, **kwargs):
        self.max_length = max_length
        self.min_length = min_length
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
            raise ValidationError("must not contain control characters")
        if len(text) < self.min_length:
            raise ValidationError("must not be empty" if self.min_length == 1
                                  else f"must be at least {self.min_length} characters")
        if len(text) > self.max_length:
            raise ValidationError(f"must be at most {self.max_length} characters")
        return text


class _TwoPlaces(fields.Decimal):
    """A decimal in [minimum, maximum] with at most 2 places (more is refused, never rounded
    away); numbers or strings on input, strings on output; NaN, infinity and booleans
    refused."""

    def __init__(self, minimum: str, maximum: str, **kwargs):
        self.minimum, self.maximum = Decimal(minimum), Decimal(maximum)
        # Documented as what it is on the wire (a string); numbers are accepted as well.
        kwargs.setdefault("metadata", {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$",
                                       "description": f"{minimum} to {maximum}"})
        super().__init__(places=2, as_string=True, allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, float):
            value = repr(value)  # 0.1 stays 0.1 rather than its binary expansion
        number = super()._deserialize(value, attr, data, **kwargs)
        if not self.minimum <= number <= self.maximum:
            raise ValidationError(f"must be between {self.minimum} and {self.maximum}")
        return number

    def _validated(self, value):
        # Checked on the raw input: quantising would round the extra places away.
        try:
            exponent = Decimal(str(value)).as_tuple().exponent
        except ArithmeticError:
            exponent = 0
        if isinstance(exponent, int) and exponent < -2:
            raise ValidationError("must have at most 2 decimal places")
        return super()._validated(value)


class Money(_TwoPlaces):
    """Money as api.md has it: a decimal string with 2 places."""

    def __init__(self, maximum: str = "9999999999999.99", **kwargs):
        super().__init__("0", maximum, **kwargs)


class Percent(_TwoPlaces):
    """A share in percent, 0..100."""

    def __init__(self, **kwargs):
        super().__init__("0", "100", **kwargs)


MONTH_FORM = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Month(fields.String):
    """A calendar month, `YYYY-MM`."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        match = MONTH_FORM.match(text)
        if not match or not 2000 <= int(match.group(1)) <= 2100:
            raise ValidationError("must be a month as YYYY-MM (2000-2100)")
        return text


EARLIEST_YEAR, LATEST_YEAR = 1970, 2100


class Moment(fields.AwareDateTime):
    """An ISO-8601 time with an offset, within 1970..2100: years PostgreSQL would store but
    Python cannot read back (or add a day to) must not get in."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
            raise ValidationError(f"must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
        return moment


class Day(fields.Date):
    """A calendar date within 1970..2100."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
            raise ValidationError(f"must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
        return day
