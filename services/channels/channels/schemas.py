"""marshmallow schemas of the channels RPC payloads and results (also the HTTP bodies the
gateway documents)."""
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from channels.domain import PARTNER_KINDS, PARTNER_STATUSES, STORE_STATUSES, TIERS
from crmkit.audit import audit_query_schema
from crmkit.fields import Day, Id, Moment, Money, Month, Percent, Text
from crmkit.pagination import PageQuerySchema

CODE = validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$", error="1 to 64 letters, digits or . _ -")
INSPECTION_STATUSES = ("draft", "submitted", "reviewed")
PLAN_TEMPLATES = ("store", "channel")
ENTRY_KINDS = ("decision", "todo", "progress", "verification")
MAX_IMPORT_BYTES = 16 * 1024 * 1024


def _no_repeats(values, what: str):
    if len(set(values)) != len(values):
        raise ValidationError(f"{what} must not repeat")


# --- partners ---------------------------------------------------------------------------
class PartnerContactSchema(Schema):
    name = Text(required=True, max_length=100)
    title = Text(max_length=100, allow_none=True)
    phone = fields.String(allow_none=True, validate=validate.Regexp(
        r"^\+?[0-9][0-9 ()-]{4,30}$", error="not a phone number"))
    email = fields.Email(allow_none=True, validate=validate.Length(max=200))


class PartnerSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    parent_id = fields.Integer(allow_none=True)
    tier = fields.String(allow_none=True)
    credit_limit = Money()
    cooperation_model = fields.String(allow_none=True)
    channel_share = Percent(allow_none=True)
    owner_id = fields.Integer()
    contacts = fields.List(fields.Nested(PartnerContactSchema))
    status = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class _PartnerFields(Schema):
    name = Text(max_length=200)
    kind = fields.String(validate=validate.OneOf(PARTNER_KINDS))
    parent_id = Id(allow_none=True)
    tier = fields.String(allow_none=True, validate=validate.OneOf(TIERS))
    credit_limit = Money()
    cooperation_model = Text(max_length=200, allow_none=True)
    channel_share = Percent(allow_none=True)
    owner_id = Id()
    contacts = fields.List(fields.Nested(PartnerContactSchema), validate=validate.Length(max=20))
    status = fields.String(validate=validate.OneOf(PARTNER_STATUSES))


class PartnerCreateSchema(_PartnerFields):
    code = fields.String(required=True, validate=CODE)
    name = Text(required=True, max_length=200)
    kind = fields.String(required=True, validate=validate.OneOf(PARTNER_KINDS))


class PartnerUpdateSchema(_PartnerFields):
    note = Text(max_length=200, load_only=True)


class PartnerListQuerySchema(PageQuerySchema):
    q = Text(max_length=100)
    kind = fields.String(validate=validate.OneOf(PARTNER_KINDS))
    tier = fields.String(validate=validate.OneOf(TIERS))
    owner_id = Id(strict=False)
    parent_id = Id(strict=False)


class PartnerChangeSchema(Schema):
    id = fields.Integer()
    partner_id = fields.Integer()
    field = fields.String()
    old_value = fields.String(allow_none=True)
    new_value = fields.String(allow_none=True)
    changed_by = fields.Integer(allow_none=True)
    changed_at = fields.DateTime()
    note = fields.String(allow_none=True)


# --- stores -----------------------------------------------------------------------------
class StoreSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    partner_id = fields.Integer()
    address = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    region = fields.String(allow_none=True)
    brand_center = fields.String(allow_none=True)
    owner_id = fields.Integer()
    staff = fields.List(fields.String())
    products = fields.List(fields.String())
    status = fields.String()
    visitable = fields.Method("_visitable")
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

    def _visitable(self, store) -> bool:
        """A store without an address and a geo location cannot be visited."""
        return bool(store.address) and store.lat is not None and store.lon is not None


class _StoreFields(Schema):
    name = Text(max_length=200)
    partner_id = Id()
    address = Text(max_length=500, allow_none=True)
    lat = fields.Float(allow_none=True, allow_nan=False,
                       validate=validate.Range(min=-90, max=90))
    lon = fields.Float(allow_none=True, allow_nan=False,
                       validate=validate.Range(min=-180, max=180))
    region = Text(max_length=100, allow_none=True)
    brand_center = Text(max_length=100, allow_none=True)
    owner_id = Id()
    staff = fields.List(Text(max_length=100), validate=validate.Length(max=100))
    products = fields.List(Text(max_length=100), validate=validate.Length(max=100))
    status = fields.String(validate=validate.OneOf(STORE_STATUSES))

    @validates_schema
    def _lat_lon_together(self, data, **kwargs):
        if ("lat" in data) != ("lon" in data) or \
                (data.get("lat") is None) != (data.get("lon") is None):
            missing = "lon" if data.get("lat") is not None else "lat"
            raise ValidationError("lat and lon go together", missing)


class StoreCreateSchema(_StoreFields):
    code = fields.String(required=True, validate=CODE)
    name = Text(required=True, max_length=200)
    partner_id = Id(required=True)


class StoreUpdateSchema(_StoreFields):
    pass


class StoreListQuerySchema(PageQuerySchema):
    q = Text(max_length=100)
    partner_id = Id(strict=False)
    owner_id = Id(strict=False)
    region = Text(max_length=100)
    status = fields.String(validate=validate.OneOf(STORE_STATUSES))


class ImportRequestSchema(Schema):
    filename = Text(max_length=255, allow_none=True)
    content_base64 = fields.String(required=True, validate=validate.Length(
        min=1, max=MAX_IMPORT_BYTES * 4 // 3 + 4))


class ImportErrorSchema(Schema):
    row = fields.Integer()
    field = fields.String()
    message = fields.String()


class ImportJobSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    filename = fields.String(allow_none=True)
    size = fields.Integer()
    total = fields.Integer()
    processed = fields.Integer()
    imported = fields.Integer()
    error_count = fields.Integer()
    errors = fields.List(fields.Nested(ImportErrorSchema))
    created_by = fields.Integer()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


# --- inspections ------------------------------------------------------------------------
class InspectionLineSchema(Schema):
    id = fields.Integer()
    inspection_id = fields.Integer()
    customer_name = fields.String()
    store_id = fields.Integer()
    product_type = fields.String()
    quantity = fields.Integer()
    amount = Money()
    created_by = fields.Integer()
    created_at = fields.DateTime()


class InspectionSchema(Schema):
    id = fields.Integer()
    partner_id = fields.Integer()
    partner_name = fields.String()
    month = fields.String()
    status = fields.String()
    owner_id = fields.Integer()
    created_by = fields.Integer()
    store_ids = fields.List(fields.Integer())
    basic_info = fields.String(allow_none=True)
    cooperation_model = fields.String(allow_none=True)
    channel_share = Percent(allow_none=True)
    dynamics = fields.String(allow_none=True)
    submitted_by = fields.Integer(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    reviewed_by = fields.Integer(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    review_comment = fields.String(allow_none=True)
    line_count = fields.Integer()
    total_quantity = fields.Integer()
    total_amount = Money()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class InspectionDetailSchema(InspectionSchema):
    lines = fields.List(fields.Nested(InspectionLineSchema))


class _InspectionFields(Schema):
    store_ids = fields.List(Id(), validate=validate.Length(max=1000))
    basic_info = Text(max_length=4000, allow_none=True)
    cooperation_model = Text(max_length=200, allow_none=True)
    channel_share = Percent(allow_none=True)
    dynamics = Text(max_length=4000, allow_none=True)

    @validates("store_ids")
    def _unique_stores(self, value, **kwargs):
        _no_repeats(value, "store_ids")


class InspectionCreateSchema(_InspectionFields):
    partner_id = Id(required=True)
    month = Month(required=True)
    owner_id = Id()


class InspectionUpdateSchema(_InspectionFields):
    owner_id = Id()


class InspectionLineCreateSchema(Schema):
    customer_name = Text(required=True, max_length=200)
    store_id = Id(required=True)
    product_type = Text(required=True, max_length=100)
    quantity = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=0, max=10_000_000))
    amount = Money(required=True)


class ReviewSchema(Schema):
    comment = Text(max_length=2000, allow_none=True)


class InspectionListQuerySchema(PageQuerySchema):
    partner_id = Id(strict=False)
    partner_name = Text(max_length=100)
    owner_id = Id(strict=False)
    status = fields.String(validate=validate.OneOf(INSPECTION_STATUSES))
    month = Month()
    updated_from = Moment()
    updated_to = Moment()


# --- action plans -----------------------------------------------------------------------
class ActionPlanEntrySchema(Schema):
    id = fields.Integer()
    plan_id = fields.Integer()
    kind = fields.String()
    text = fields.String()
    due = fields.Date(allow_none=True)
    created_by = fields.Integer()
    created_at = fields.DateTime()


class ActionPlanSchema(Schema):
    id = fields.Integer()
    template = fields.String()
    store_id = fields.Integer(allow_none=True)
    store_code = fields.String(allow_none=True)
    store_name = fields.String(allow_none=True)
    partner_id = fields.Integer(allow_none=True)
    title = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    brand_center = fields.String(allow_none=True)
    owner_id = fields.Integer()
    collaborator_ids = fields.List(fields.Integer())
    period = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ActionPlanDetailSchema(ActionPlanSchema):
    entries = fields.List(fields.Nested(ActionPlanEntrySchema))


class ActionPlanCreateSchema(Schema):
    template = fields.String(required=True, validate=validate.OneOf(PLAN_TEMPLATES))
    store_id = Id()
    partner_id = Id()
    title = Text(max_length=200, allow_none=True)
    region = Text(max_length=100, allow_none=True)
    brand_center = Text(max_length=100, allow_none=True)
    owner_id = Id()
    collaborator_ids = fields.List(Id(), validate=validate.Length(max=50))
    period = Month(required=True)

    @validates_schema
    def _subject_matches_template(self, data, **kwargs):
        wanted, other = ("store_id", "partner_id") if data.get("template") == "store" \
            else ("partner_id", "store_id")
        if data.get("template") and wanted not in data:
            raise ValidationError(f"required for a {data['template']} plan", wanted)
        if data.get("template") and other in data:
            raise ValidationError(f"not allowed for a {data['template']} plan", other)

    @validates("collaborator_ids")
    def _unique_collaborators(self, value, **kwargs):
        _no_repeats(value, "collaborator_ids")


class ActionPlanEntryCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(ENTRY_KINDS))
    text = Text(required=True, max_length=4000)
    due = Day(allow_none=True)


class CollaboratorSchema(Schema):
    user_id = Id(required=True)


class ActionPlanListQuerySchema(PageQuerySchema):
    template = fields.String(validate=validate.OneOf(PLAN_TEMPLATES))
    store_id = Id(strict=False)
    partner_id = Id(strict=False)
    owner_id = Id(strict=False)
    period = Month()


AUDITED_RESOURCES = ("partner", "store", "inspection", "action_plan")
AuditQuerySchema = audit_query_schema(AUDITED_RESOURCES)
