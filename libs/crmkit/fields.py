"""marshmallow fields every service uses for the same kinds of values."""
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
