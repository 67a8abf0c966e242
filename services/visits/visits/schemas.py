"""marshmallow schemas of the visits RPC payloads and results (also the HTTP bodies the
gateway documents)."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crmkit.fields import Day, Id, Moment, Month, Text
from crmkit.pagination import PageQuerySchema
from visits.details import FieldDefinitionSchema

VISIT_STATUSES = ("planned", "checked_in", "completed", "cancelled")


def latitude(**kwargs) -> fields.Float:
    return fields.Float(allow_nan=False, validate=validate.Range(-90, 90), **kwargs)


def longitude(**kwargs) -> fields.Float:
    return fields.Float(allow_nan=False, validate=validate.Range(-180, 180), **kwargs)


class VisitTypeSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    camera_only = fields.Boolean()
    fields_ = fields.List(fields.Nested(FieldDefinitionSchema), data_key="fields",
                          attribute="fields")
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class VisitTypeCreateSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z][a-z0-9_]{0,63}$", error="lowercase letters, digits and _"))
    name = Text(required=True, max_length=200)
    camera_only = fields.Boolean(load_default=True)
    fields_ = fields.List(fields.Nested(FieldDefinitionSchema), data_key="fields",
                          attribute="fields", load_default=list,
                          validate=validate.Length(max=50))


class FraudSignalSchema(Schema):
    id = fields.Integer()
    visit_id = fields.Integer()
    user_id = fields.Integer()
    kind = fields.String()
    detail = fields.Dict()
    raised_at = fields.DateTime()


class VisitSchema(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    store_id = fields.Integer(allow_none=True)
    customer_id = fields.Integer(allow_none=True)
    visit_type_id = fields.Integer(allow_none=True)
    planned_at = fields.DateTime()
    status = fields.String()
    created_by = fields.Integer()
    check_in_at = fields.DateTime(allow_none=True)
    check_in_lat = fields.Float(allow_none=True)
    check_in_lon = fields.Float(allow_none=True)
    check_in_accuracy_m = fields.Float(allow_none=True)
    distance_m = fields.Float(allow_none=True)
    within_radius = fields.Boolean(allow_none=True)
    check_out_at = fields.DateTime(allow_none=True)
    feedback = fields.String(allow_none=True)
    needs = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class VisitDetailSchema(VisitSchema):
    fraud_signals = fields.List(fields.Nested(FraudSignalSchema))


class VisitCreateSchema(Schema):
    user_id = Id()
    store_id = Id()
    customer_id = Id()
    visit_type_id = Id(allow_none=True)
    planned_at = Moment(required=True)

    @validates_schema
    def _one_place(self, data, **kwargs):
        if ("store_id" in data) == ("customer_id" in data):
            raise ValidationError("give a store_id or a customer_id (one of them)", "store_id")


class VisitListQuerySchema(PageQuerySchema):
    user_id = Id(strict=False)
    store_id = Id(strict=False)
    customer_id = Id(strict=False)
    status = fields.String(validate=validate.OneOf(VISIT_STATUSES))
    planned_from = Moment()
    planned_to = Moment()


class CheckInSchema(Schema):
    lat = latitude(required=True)
    lon = longitude(required=True)
    accuracy_m = fields.Float(required=True, allow_nan=False,
                              validate=validate.Range(min=0, max=10_000))
    at = Moment(required=True)


class CheckInResultSchema(VisitSchema):
    signals = fields.List(fields.String())


class CheckOutSchema(Schema):
    feedback = Text(max_length=4000, allow_none=True)
    needs = Text(max_length=4000, allow_none=True)
    details = fields.Dict(load_default=dict)


class TrajectoryQuerySchema(Schema):
    date = Day(required=True)
    tz = fields.String(load_default="Asia/Shanghai", validate=validate.Length(max=64))


class TrajectoryPointSchema(Schema):
    visit_id = fields.Integer()
    store_id = fields.Integer(allow_none=True)
    customer_id = fields.Integer(allow_none=True)
    at = fields.DateTime()
    lat = fields.Float()
    lon = fields.Float()
    distance_to_store_m = fields.Float(allow_none=True)
    within_radius = fields.Boolean(allow_none=True)
    meters_from_previous = fields.Float(allow_none=True)
    minutes_from_previous = fields.Float(allow_none=True)


class TrajectorySchema(Schema):
    user_id = fields.Integer()
    date = fields.Date()
    points = fields.List(fields.Nested(TrajectoryPointSchema))
    total_m = fields.Float()


class TargetSetSchema(Schema):
    user_id = Id(required=True)
    month = Month(required=True)
    target = fields.Integer(required=True, strict=True,
                            validate=validate.Range(min=0, max=10_000))
    adjustment = fields.Integer(strict=True, load_default=0,
                                validate=validate.Range(min=-10_000, max=10_000))
    note = Text(max_length=200, allow_none=True)


class TargetSchema(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    month = fields.String()
    target = fields.Integer()
    adjustment = fields.Integer()
    effective_target = fields.Integer()
    completed = fields.Integer()
    progress = fields.Float()
    note = fields.String(allow_none=True)


class TargetQuerySchema(PageQuerySchema):
    user_id = Id(strict=False)
    month = Month()
    year = fields.Integer(validate=validate.Range(min=2000, max=2100))


PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic")


class PhotoSlotRequestSchema(Schema):
    content_type = fields.String(required=True, validate=validate.OneOf(PHOTO_TYPES))
    size = fields.Integer(required=True, strict=True,
                          validate=validate.Range(min=1, max=2**31 - 1))
    sha256 = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9a-fA-F]{64}$", error="64 hex digits"))
    source = fields.String(required=True, validate=validate.OneOf(("camera", "gallery")))
    taken_at = Moment(allow_none=True)


class PhotoSlotSchema(Schema):
    photo_id = fields.Integer()
    upload_url = fields.String()
    expires_at = fields.DateTime()
    content_type = fields.String()


class PhotoSchema(Schema):
    id = fields.Integer()
    visit_id = fields.Integer()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    source = fields.String()
    taken_at = fields.DateTime(allow_none=True)
    status = fields.String()
    exif_taken_at = fields.DateTime(allow_none=True)
    exif_lat = fields.Float(allow_none=True)
    exif_lon = fields.Float(allow_none=True)
    created_at = fields.DateTime()
    confirmed_at = fields.DateTime(allow_none=True)
    download_url = fields.String()
    download_expires_at = fields.DateTime()
