"""marshmallow validation that fails with the api.md error shape (`fields`)."""
from collections.abc import Mapping

from marshmallow import Schema
from marshmallow import ValidationError as MarshmallowError

from crmkit.errors import ValidationFailed


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into {"a.b": ["problem"]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(flatten_messages(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


def load(schema: Schema, data, *, partial: bool = False) -> dict:
    if not isinstance(data, Mapping):
        raise ValidationFailed("Expected a JSON object", {"_schema": ["expected an object"]})
    try:
        return schema.load(data, partial=partial)
    except MarshmallowError as exc:
        raise ValidationFailed("Invalid input", flatten_messages(exc.messages)) from None
