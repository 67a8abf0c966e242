"""marshmallow schemas of the notifications RPC payloads and results."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crmkit.fields import Id, Moment, Text
from crmkit.pagination import PageQuerySchema
from notifications.templates import LOCALES, TEMPLATES


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


# --- outbound channels --------------------------------------------------------------------
PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()-]{4,30}$", error="not a phone number")
KINDS = tuple(TEMPLATES)
DELIVERY_STATUSES = ("pending", "sent", "failed")
CHANNELS = ("email", "sms", "webhook")


class PreferencesSchema(Schema):
    email = fields.Email(allow_none=True, validate=validate.Length(max=200))
    email_enabled = fields.Boolean(load_default=False)
    phone = fields.String(allow_none=True, validate=PHONE)
    sms_enabled = fields.Boolean(load_default=False)
    muted_kinds = fields.List(fields.String(validate=validate.OneOf(KINDS)),
                              load_default=list, validate=validate.Length(max=len(KINDS)))
    # Which channels this deployment can send on (read only).
    available_channels = fields.List(fields.String(), dump_only=True)

    @validates_schema
    def _addresses(self, data, **kwargs):
        if data.get("email_enabled") and not data.get("email"):
            raise ValidationError("give the address to send e-mail to", "email")
        if data.get("sms_enabled") and not data.get("phone"):
            raise ValidationError("give the phone to send SMS to", "phone")


class WebhookSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    url = fields.String()
    kinds = fields.List(fields.String())
    active = fields.Boolean()
    created_at = fields.DateTime()


class WebhookCreatedSchema(WebhookSchema):
    # Answered once, at creation: the receiver needs it to check signatures.
    secret = fields.String()


class WebhookCreateSchema(Schema):
    name = Text(required=True, max_length=100)
    url = fields.String(required=True, validate=validate.Length(max=500))
    kinds = fields.List(fields.String(validate=validate.OneOf(KINDS)), required=True,
                        validate=validate.Length(min=1, max=len(KINDS)))
    # None: one is generated (and answered once).
    secret = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(min=16, max=200))
    active = fields.Boolean(load_default=True)


class WebhookUpdateSchema(Schema):
    url = fields.String(validate=validate.Length(max=500))
    kinds = fields.List(fields.String(validate=validate.OneOf(KINDS)),
                        validate=validate.Length(min=1, max=len(KINDS)))
    secret = fields.String(validate=validate.Length(min=16, max=200))
    active = fields.Boolean()


class DeliverySchema(Schema):
    id = fields.Integer()
    channel = fields.String()
    kind = fields.String()
    notification_id = fields.Integer(allow_none=True)
    subscription_id = fields.Integer(allow_none=True)
    event_id = fields.String(allow_none=True)
    target = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime()
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class DeliveryQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    kind = fields.String(validate=validate.OneOf(KINDS))


class TemplateSchema(Schema):
    kind = fields.String()
    locale = fields.String()
    title = fields.String()
    body = fields.String()
    customised = fields.Boolean()


class TemplateSetSchema(Schema):
    locale = fields.String(required=True, validate=validate.OneOf(LOCALES))
    title = Text(required=True, max_length=200)
    body = Text(required=True, max_length=2000)
