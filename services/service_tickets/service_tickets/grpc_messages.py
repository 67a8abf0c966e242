"""Between protobuf messages and the plain dicts that the schemas load and the handlers
return. A field the client set becomes a key and an unset one is left out, so a schema's
defaults and `required` rules apply as they do to a JSON body; a None in a result leaves
the field unset, which a client reads as absent (`HasField` false)."""
from decimal import Decimal

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass


def to_dict(message: Message) -> dict:
    data = {}
    for field, value in message.ListFields():
        if field.message_type is not None:
            data[field.name] = [to_dict(item) for item in value] if field.is_repeated \
                else to_dict(value)
        else:
            data[field.name] = list(value) if field.is_repeated else value
    return data


def _scalar(field: FieldDescriptor, value):
    if field.type == FieldDescriptor.TYPE_STRING:
        # Times arrive as ISO strings from the schemas; money as Decimal.
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    return value


def _fields(descriptor: Descriptor, data: dict) -> dict:
    values = {}
    for field in descriptor.fields:
        value = data.get(field.name)
        if value is None:
            continue
        if field.message_type is not None:
            message_class = GetMessageClass(field.message_type)
            values[field.name] = (
                [message_class(**_fields(field.message_type, item)) for item in value]
                if field.is_repeated else message_class(**_fields(field.message_type, value)))
        elif field.is_repeated:
            values[field.name] = [_scalar(field, item) for item in value]
        else:
            values[field.name] = _scalar(field, value)
    return values


def from_dict(message_class: type[Message], data: dict) -> Message:
    """Keys the message does not have are dropped: a result may carry more than the
    contract promises (a newer handler), and the contract decides what goes out."""
    return message_class(**_fields(message_class.DESCRIPTOR, data))
