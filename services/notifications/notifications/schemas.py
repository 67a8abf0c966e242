"""marshmallow schemas of the notifications RPC payloads and results."""
from marshmallow import Schema, fields, validate

from crmkit.fields import Id, Moment, Text
from crmkit.pagination import PageQuerySchema


def _related(record) -> dict | None:
    """`{resource, id}` of the record a notice or reminder is about, if any."""
    if record.related_resource is None:
        return None
    return {"resource": record.related_resource, "id": record.related_id}


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    related = fields.Function(_related)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class InboxQuerySchema(PageQuerySchema):
    unread = fields.Boolean()


class MarkedSchema(Schema):
    marked = fields.Integer()


REPEATS = ("none", "daily", "weekly", "monthly", "yearly")
REMINDER_KINDS = ("follow_up", "appointment", "renewal", "annual_review", "other")


class RelatedInputSchema(Schema):
    resource = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z_]{1,50}$", error="a resource name such as customer or visit"))
    id = Id(required=True)


class ReminderCreateSchema(Schema):
    subject = Text(required=True, max_length=200)
    due_at = Moment(required=True)
    repeat = fields.String(load_default="none", validate=validate.OneOf(REPEATS))
    kind = fields.String(load_default="follow_up", validate=validate.OneOf(REMINDER_KINDS))
    related = fields.Nested(RelatedInputSchema, allow_none=True)


class ReminderSchema(Schema):
    id = fields.Integer()
    subject = fields.String()
    kind = fields.String()
    repeat = fields.String()
    due_at = fields.DateTime()
    next_fire_at = fields.DateTime(allow_none=True)
    fired_count = fields.Integer()
    status = fields.String()
    related = fields.Function(_related)
    created_at = fields.DateTime()


class ReminderListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(("active", "done")))
