"""marshmallow schemas of the accounts RPC payloads and results (also the HTTP bodies the
gateway documents)."""
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from accounts.domain import ORG_KINDS, ROLES
from crmkit.audit import audit_query_schema
from crmkit.fields import Id, Text
from crmkit.pagination import PageQuerySchema

LOCALES = ("zh-CN", "en")
USERNAME = validate.Regexp(r"^[A-Za-z0-9._@-]{3,64}$",
                          error="3 to 64 letters, digits or . _ @ -")


class Password(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not 10 <= len(text) <= 200:
            raise ValidationError("must be 10 to 200 characters")
        return text


class TimeZone(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError("not a known IANA time zone") from None
        return text


# --- authentication ---------------------------------------------------------------------
class TokenRequestSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(min=1, max=200))


class RefreshRequestSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class LogoutRequestSchema(Schema):
    refresh_token = fields.String(validate=validate.Length(min=1, max=200))


class TokenSchema(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


# --- org units --------------------------------------------------------------------------
class OrgUnitSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    parent_id = fields.Integer(allow_none=True)
    path = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class OrgUnitCreateSchema(Schema):
    name = Text(required=True, max_length=200)
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))
    parent_id = Id(load_default=None)


class OrgUnitUpdateSchema(Schema):
    name = Text(max_length=200)
    parent_id = Id()


class OrgUnitListQuerySchema(PageQuerySchema):
    parent_id = Id(strict=False)
    kind = fields.String(validate=validate.OneOf(ORG_KINDS))


# --- users ------------------------------------------------------------------------------
class UserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())
    org_unit_id = fields.Integer()
    manager_id = fields.Integer(allow_none=True)
    partner_id = fields.Integer(allow_none=True)
    locale = fields.String()
    time_zone = fields.String()
    active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class MeSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())
    org_unit_id = fields.Integer()
    org_path = fields.String()
    manager_id = fields.Integer(allow_none=True)
    partner_id = fields.Integer(allow_none=True)
    locale = fields.String()
    time_zone = fields.String()


class _UserFields(Schema):
    display_name = Text(max_length=200)
    password = Password(load_only=True)
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)),
                        validate=validate.Length(min=1, max=len(ROLES)))
    org_unit_id = Id()
    manager_id = Id(allow_none=True)
    partner_id = Id(allow_none=True)
    locale = fields.String(validate=validate.OneOf(LOCALES))
    time_zone = TimeZone()
    active = fields.Boolean()

    @validates("roles")
    def _unique_roles(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ValidationError("roles must not repeat")

    @validates_schema
    def _partner_binding(self, data, **kwargs):
        if "repair_partner" in data.get("roles", ()) and "partner_id" in data \
                and data["partner_id"] is None:
            raise ValidationError("a repair_partner user is bound to a partner",
                                  "partner_id")


class UserCreateSchema(_UserFields):
    username = fields.String(required=True, validate=USERNAME)
    display_name = Text(required=True, max_length=200)
    password = Password(required=True, load_only=True)
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True,
                        validate=validate.Length(min=1, max=len(ROLES)))
    org_unit_id = Id(required=True)

    @validates_schema
    def _partner_required(self, data, **kwargs):
        if "repair_partner" in data.get("roles", ()) and not data.get("partner_id"):
            raise ValidationError("a repair_partner user is bound to a partner",
                                  "partner_id")


class UserUpdateSchema(_UserFields):
    current_password = fields.String(load_only=True, validate=validate.Length(max=200))


class UserListQuerySchema(PageQuerySchema):
    org_unit_id = Id(strict=False)
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    q = Text(max_length=64)


class ReassignSchema(Schema):
    to_user_id = Id(required=True)


class ReassignResultSchema(Schema):
    from_user_id = fields.Integer()
    to_user_id = fields.Integer()
    reassigned_reports = fields.Integer()
    event_id = fields.String()


class DirectoryRequestSchema(Schema):
    user_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=500))


# --- audit ------------------------------------------------------------------------------
AUDITED_RESOURCES = ("user", "org_unit")


AuditQuerySchema = audit_query_schema(AUDITED_RESOURCES)
