"""Keyset pagination with opaque cursors: `?limit=` (default 50, max 500) and `?cursor=`,
answered as `{"items": [...], "next_cursor": ...}`."""
import base64
import binascii

from marshmallow import Schema, ValidationError, fields, validate

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, value = raw.partition(":")
        if version != "v1":
            raise ValueError(version)
        last_id = int(value)
        if not 0 <= last_id < 2**63:
            raise ValueError(value)
        return last_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("not a valid cursor") from None


class CursorField(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return decode_cursor(super()._deserialize(value, attr, data, **kwargs))


class PageQuerySchema(Schema):
    """Base for every list query: services extend it with their filters."""

    limit = fields.Integer(load_default=DEFAULT_LIMIT,
                           validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = CursorField(load_default=None)


def paginate(stmt, id_column, limit: int, after_id: int | None):
    """Apply keyset paging in ascending id order; fetch one extra row to know if more exist."""
    if after_id is not None:
        stmt = stmt.where(id_column > after_id)
    return stmt.order_by(id_column).limit(limit + 1)


def page(items: list, limit: int, id_of=lambda item: item["id"]) -> dict:
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(id_of(items[-1])) if more else None}
