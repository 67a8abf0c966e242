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


# --- customers --------------------------------------------------------------------------
CUSTOMER_TYPES = ("enterprise", "government", "education", "healthcare", "dealer", "other")
GRADES = ("A", "B", "C", "D")
PHONE = validate.Regexp(r"^\+?[0-9０-９][0-9０-９ ()（）-]{4,30}$", error="not a phone number")


class CustomerSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    parent_id = fields.Integer(allow_none=True)
    type = fields.String()
    industry = fields.String(allow_none=True)
    grade = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    tax_id = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    owner_id = fields.Integer()
    team_member_ids = fields.List(fields.Integer())
    status = fields.String()
    merged_into_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class _CustomerFields(Schema):
    name = Text(max_length=200)
    parent_id = Id(allow_none=True)
    type = fields.String(validate=validate.OneOf(CUSTOMER_TYPES))
    industry = Text(max_length=100, allow_none=True)
    grade = fields.String(allow_none=True, validate=validate.OneOf(GRADES))
    phone = fields.String(allow_none=True, validate=PHONE)
    tax_id = fields.String(allow_none=True, validate=validate.Regexp(
        r"^[0-9A-Za-z -]{8,30}$", error="8 to 30 letters and digits"))
    address = Text(max_length=500, allow_none=True)
    lat = fields.Float(allow_none=True, allow_nan=False, validate=validate.Range(-90, 90))
    lon = fields.Float(allow_none=True, allow_nan=False, validate=validate.Range(-180, 180))
    team_member_ids = fields.List(Id(), validate=validate.Length(max=50))

    @validates_schema
    def _lat_lon_together(self, data, **kwargs):
        if (data.get("lat") is None) != (data.get("lon") is None):
            raise ValidationError("lat and lon go together",
                                  "lon" if data.get("lat") is not None else "lat")

    @validates("team_member_ids")
    def _unique_members(self, value, **kwargs):
        if len(set(value)) != len(value):
            raise ValidationError("team members must not repeat")


class CustomerCreateSchema(_CustomerFields):
    name = Text(required=True, max_length=200)
    type = fields.String(load_default="enterprise", validate=validate.OneOf(CUSTOMER_TYPES))
    owner_id = Id()


class CustomerUpdateSchema(_CustomerFields):
    pass


class CreateOptionsSchema(Schema):
    allow_duplicate = fields.Boolean(load_default=False)


class CustomerListQuerySchema(PageQuerySchema):
    q = Text(max_length=100)
    owner_id = Id(strict=False)
    parent_id = Id(strict=False)
    type = fields.String(validate=validate.OneOf(CUSTOMER_TYPES))
    grade = fields.String(validate=validate.OneOf(GRADES))
    status = fields.String(validate=validate.OneOf(("active", "merged")))


class DuplicateQuerySchema(Schema):
    name = Text(max_length=200)
    phone = fields.String(validate=validate.Length(max=40))
    tax_id = fields.String(validate=validate.Length(max=40))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))

    @validates_schema
    def _something_to_compare(self, data, **kwargs):
        if not any(data.get(k) for k in ("name", "phone", "tax_id")):
            raise ValidationError("give a name, a phone or a tax id", "name")


class DuplicateCandidateSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    score = fields.Float()
    reasons = fields.List(fields.String())
    visible = fields.Boolean()


class MergeSchema(Schema):
    source_id = Id(required=True)


class TransferSchema(Schema):
    owner_id = Id(required=True)
    note = Text(max_length=200)


class ContactSchema(Schema):
    id = fields.Integer()
    customer_id = fields.Integer()
    name = fields.String()
    title = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    created_at = fields.DateTime()


class ContactCreateSchema(Schema):
    name = Text(required=True, max_length=100)
    title = Text(max_length=100, allow_none=True)
    phone = fields.String(allow_none=True, validate=PHONE)
    email = fields.Email(allow_none=True, validate=validate.Length(max=200))


class TimelineEntrySchema(Schema):
    at = fields.DateTime()
    kind = fields.String()
    source = fields.String()
    summary = fields.String()
    actor_id = fields.Integer(allow_none=True)
    data = fields.Dict()


class CustomerImportSchema(Schema):
    filename = Text(max_length=255, allow_none=True)
    content_base64 = fields.String(required=True, validate=validate.Length(
        min=1, max=8 * 1024 * 1024))


class CustomerImportResultSchema(Schema):
    total = fields.Integer()
    imported = fields.Integer()
    errors = fields.List(fields.Dict())


# What a customer export is answered as, by format.
EXPORT_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportQuerySchema(Schema):
    format = fields.String(load_default="csv",
                           validate=validate.OneOf(tuple(EXPORT_CONTENT_TYPES)))


class FieldPermissionSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    # Text: no control characters (a NUL used to get as far as the database driver).
    resource = Text(required=True, max_length=50)
    field = Text(required=True, max_length=50)
    rule = fields.String(required=True, allow_none=True,
                         validate=validate.OneOf(("hidden", "masked", "read_only")))


class FieldPermissionsSchema(Schema):
    items = fields.List(fields.Nested(FieldPermissionSchema), required=True,
                        validate=validate.Length(max=500))


# --- audit ------------------------------------------------------------------------------
AUDITED_RESOURCES = ("user", "org_unit", "customer")


AuditQuerySchema = audit_query_schema(AUDITED_RESOURCES)
