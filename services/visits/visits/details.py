"""Custom detail fields of a visit type: admins define them as data, the check-out's
`details` are validated against a marshmallow schema built from that definition."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crmkit.fields import Day, Text

FIELD_TYPES = ("text", "integer", "number", "date", "boolean", "choice", "checklist")


class FieldDefinitionSchema(Schema):
    name = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z][a-z0-9_]{0,39}$", error="lowercase letters, digits and _, max 40"))
    label = Text(required=True, max_length=100)
    type = fields.String(required=True, validate=validate.OneOf(FIELD_TYPES))
    required = fields.Boolean(load_default=False)
    choices = fields.List(Text(max_length=100), validate=validate.Length(max=100))
    min = fields.Float(allow_nan=False)
    max = fields.Float(allow_nan=False)
    max_length = fields.Integer(validate=validate.Range(min=1, max=4000))

    @validates_schema
    def _choices_when_needed(self, data, **kwargs):
        if data.get("type") in ("choice", "checklist") and not data.get("choices"):
            raise ValidationError("required for choice and checklist fields", "choices")
        if "min" in data and "max" in data and data["min"] > data["max"]:
            raise ValidationError("must not exceed max", "min")


def _field(definition: dict) -> fields.Field:
    required = definition.get("required", False)
    kind = definition["type"]
    bounds = validate.Range(min=definition.get("min"), max=definition.get("max"))
    if kind == "text":
        return Text(required=required, max_length=definition.get("max_length", 2000))
    if kind == "integer":
        return fields.Integer(required=required, strict=True, validate=bounds)
    if kind == "number":
        return fields.Float(required=required, allow_nan=False, validate=bounds)
    if kind == "date":
        return Day(required=required)
    if kind == "boolean":
        return fields.Boolean(required=required)
    if kind == "choice":
        return fields.String(required=required, validate=validate.OneOf(definition["choices"]))
    # checklist: each listed item ticked or not
    return fields.Dict(required=required, keys=fields.String(
        validate=validate.OneOf(definition["choices"])), values=fields.Boolean())


def details_schema(definitions: list[dict]) -> Schema:
    """A schema refusing unknown keys, with one field per definition."""
    return Schema.from_dict({d["name"]: _field(d) for d in definitions},
                            name="VisitDetails")()
