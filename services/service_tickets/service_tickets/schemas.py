"""marshmallow schemas of the service_tickets RPC payloads and results (also the HTTP
bodies the gateway documents and what the gRPC server validates against)."""
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from crmkit.audit import audit_query_schema
from crmkit.fields import Day, Id, Money, Text
from crmkit.pagination import PageQuerySchema
from service_tickets import domain

CODE = validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$", error="1 to 64 letters, digits or . _ -")
FAULT_CODE = validate.Regexp(r"^[A-Za-z0-9._-]{1,32}$",
                             error="1 to 32 letters, digits or . _ -")
IMEI_PREFIX = validate.Regexp(r"^\d{1,15}$", error="up to 15 digits")
PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()-]{4,30}$", error="not a phone number")
SERIAL = validate.Regexp(r"^[A-Za-z0-9-]{4,64}$", error="4 to 64 letters, digits or -")
MAX_LINES = 50
MAX_QTY = 100_000


class Imei(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        imei = super()._deserialize(value, attr, data, **kwargs).strip()
        problem = domain.imei_problem(imei)
        if problem:
            raise ValidationError(problem)
        return imei


def _no_repeats(values, what: str):
    if len(set(values)) != len(values):
        raise ValidationError(f"{what} must not repeat")


def _no_repeated_parts(lines):
    # Field validators also see the lines that failed their own checks, part_id missing.
    _no_repeats([line["part_id"] for line in lines if "part_id" in line], "parts")


# --- consumers and products -----------------------------------------------------------------
class ConsumerSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    phone = fields.String()
    address = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    gender = fields.String(allow_none=True)
    birth_year = fields.Integer(allow_none=True)
    preferences = fields.Dict()
    status = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ConsumerCreateSchema(Schema):
    name = Text(required=True, max_length=100)
    phone = fields.String(required=True, validate=PHONE)
    address = Text(max_length=300, allow_none=True)
    region = Text(max_length=100, allow_none=True)
    gender = fields.String(allow_none=True, validate=validate.OneOf(("female", "male", "other")))
    birth_year = fields.Integer(allow_none=True, strict=True,
                                validate=validate.Range(min=1900, max=2100))
    preferences = fields.Dict(keys=fields.String(validate=validate.Length(max=64)),
                              values=fields.Raw(), validate=validate.Length(max=30))


class ConsumerListQuerySchema(PageQuerySchema):
    phone = fields.String(validate=PHONE)
    q = Text(max_length=100)


class ProductSchema(Schema):
    id = fields.Integer()
    consumer_id = fields.Integer()
    model = fields.String()
    product_line = fields.String(allow_none=True)
    model_code = fields.String(allow_none=True)
    network_licence_code = fields.String(allow_none=True)
    imei = fields.String(allow_none=True)
    serial = fields.String(allow_none=True)
    accessories = fields.List(fields.String())
    store_id = fields.Integer(allow_none=True)
    invoice_no = fields.String(allow_none=True)
    sold_at = fields.Date(allow_none=True)
    warranty_until = fields.Date(allow_none=True)
    registered_via = fields.String()
    status = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ProductCreateSchema(Schema):
    model = Text(required=True, max_length=100)
    product_line = Text(max_length=64, allow_none=True)
    model_code = Text(max_length=64, allow_none=True)
    network_licence_code = Text(max_length=64, allow_none=True)
    imei = Imei(allow_none=True)
    serial = fields.String(allow_none=True, validate=SERIAL)
    accessories = fields.List(Text(max_length=100), validate=validate.Length(max=20))
    store_id = Id(allow_none=True)
    invoice_no = Text(max_length=64, allow_none=True)
    sold_at = Day(allow_none=True)
    warranty_months = fields.Integer(load_default=12, strict=True,
                                     validate=validate.Range(min=0, max=120))
    registered_via = fields.String(load_default="call_center",
                                   validate=validate.OneOf(domain.REGISTRATION_SOURCES))

    @validates_schema
    def _identified(self, data, **kwargs):
        if not data.get("imei") and not data.get("serial"):
            raise ValidationError("an IMEI or a serial number is required", "imei")


class ProductListQuerySchema(PageQuerySchema):
    imei = fields.String(validate=IMEI_PREFIX)
    serial = fields.String(validate=SERIAL)
    consumer_id = Id(strict=False)

    @validates_schema
    def _some_key(self, data, **kwargs):
        if not {"imei", "serial", "consumer_id"} & set(data):
            raise ValidationError("give imei, serial or consumer_id", "imei")


class ProductChangeSchema(Schema):
    kind = fields.String(required=True,
                         validate=validate.OneOf(("returned", "exchanged", "scrapped")))
    note = Text(max_length=500, allow_none=True)
    ticket_id = Id(allow_none=True)


class ProductEventSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    note = fields.String(allow_none=True)
    ticket_id = fields.Integer(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    at = fields.DateTime()


# --- service centres and dispatch -------------------------------------------------------------
class ServiceCenterSchema(Schema):
    id = fields.Integer()
    partner_id = fields.Integer()
    name = fields.String()
    region = fields.String()
    product_lines = fields.List(fields.String())
    capacity = fields.Integer()
    active = fields.Boolean()
    open_tickets = fields.Integer()


class ServiceCenterCreateSchema(Schema):
    partner_id = Id(required=True)
    name = Text(required=True, max_length=200)
    region = Text(required=True, max_length=100)
    product_lines = fields.List(Text(max_length=64), validate=validate.Length(max=50))
    capacity = fields.Integer(load_default=50, strict=True,
                              validate=validate.Range(min=1, max=100_000))
    active = fields.Boolean(load_default=True)


class DispatchRuleSchema(Schema):
    id = fields.Integer()
    priority = fields.Integer()
    region = fields.String(allow_none=True)
    product_line = fields.String(allow_none=True)
    service_center_ids = fields.List(fields.Integer())


class DispatchRuleCreateSchema(Schema):
    priority = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=0, max=1_000_000))
    region = Text(max_length=100, allow_none=True)
    product_line = Text(max_length=64, allow_none=True)
    service_center_ids = fields.List(Id(), required=True,
                                     validate=validate.Length(min=1, max=50))

    @validates("service_center_ids")
    def _distinct(self, value, **kwargs):
        _no_repeats(value, "service centres")


# --- tickets --------------------------------------------------------------------------------
class TicketSchema(Schema):
    id = fields.Integer()
    consumer_id = fields.Integer()
    product_id = fields.Integer(allow_none=True)
    channel = fields.String()
    category = fields.String()
    priority = fields.String()
    region = fields.String(allow_none=True)
    fault_description = fields.String()
    fault_code = fields.String(allow_none=True)
    fault_cause = fields.String(allow_none=True)
    in_warranty = fields.Boolean()
    status = fields.String()
    service_center_id = fields.Integer(allow_none=True)
    partner_id = fields.Integer(allow_none=True)
    due_at = fields.DateTime()
    sla_breached_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    opened_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class TicketCreateSchema(Schema):
    consumer_id = Id(required=True)
    product_id = Id(allow_none=True)
    channel = fields.String(required=True, validate=validate.OneOf(domain.CHANNELS))
    category = fields.String(load_default="repair", validate=validate.OneOf(domain.CATEGORIES))
    priority = fields.String(load_default="normal", validate=validate.OneOf(domain.PRIORITIES))
    region = Text(max_length=100, allow_none=True)
    fault_description = Text(required=True, max_length=2000)
    fault_code = fields.String(allow_none=True, validate=FAULT_CODE)
    # false: leave the ticket `new` for the desk to dispatch by hand.
    auto_dispatch = fields.Boolean(load_default=True)


class TicketListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(domain.TICKET_STATUSES))
    consumer_id = Id(strict=False)
    product_id = Id(strict=False)
    service_center_id = Id(strict=False)
    imei = fields.String(validate=IMEI_PREFIX)
    phone = fields.String(validate=PHONE)
    breached = fields.Boolean()


class TransitionSchema(Schema):
    to = fields.String(required=True, validate=validate.OneOf(domain.TICKET_STATUSES))
    note = Text(max_length=1000, allow_none=True)
    # For `assigned`: the centre (none: chosen by the dispatch rules).
    service_center_id = Id(allow_none=True)
    # For `done`: what was found.
    fault_code = fields.String(allow_none=True, validate=FAULT_CODE)
    fault_cause = Text(max_length=500, allow_none=True)


class PartQtySchema(Schema):
    part_id = Id(required=True)
    qty = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_QTY))


class WorkLogCreateSchema(Schema):
    text = Text(required=True, max_length=2000)
    parts_used = fields.List(fields.Nested(PartQtySchema), load_default=list,
                             validate=validate.Length(max=MAX_LINES))

    @validates("parts_used")
    def _distinct(self, value, **kwargs):
        _no_repeated_parts(value)


class WorkLogEntrySchema(Schema):
    id = fields.Integer()
    ticket_id = fields.Integer()
    text = fields.String()
    parts_used = fields.List(fields.Nested(PartQtySchema))
    author_id = fields.Integer(allow_none=True)
    at = fields.DateTime()


class TicketChangeSchema(Schema):
    id = fields.Integer()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    note = fields.String(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    at = fields.DateTime()


class SurveySchema(Schema):
    id = fields.Integer()
    ticket_id = fields.Integer()
    status = fields.String()
    score = fields.Integer(allow_none=True)
    comment = fields.String(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)


class SurveyAnswerSchema(Schema):
    score = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = Text(max_length=1000, allow_none=True)


# --- parts and stock ------------------------------------------------------------------------
class PartSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    unit_price = Money()
    models = fields.List(fields.String())
    active = fields.Boolean()


class PartCreateSchema(Schema):
    code = fields.String(required=True, validate=CODE)
    name = Text(required=True, max_length=200)
    unit_price = Money(required=True, maximum="9999999999.99")
    models = fields.List(Text(max_length=100), load_default=list,
                         validate=validate.Length(max=200))


class PartListQuerySchema(PageQuerySchema):
    q = Text(max_length=100)
    model = Text(max_length=100)


class WarehouseSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    org_unit_id = fields.Integer(allow_none=True)
    partner_id = fields.Integer(allow_none=True)


class WarehouseCreateSchema(Schema):
    code = fields.String(required=True, validate=CODE)
    name = Text(required=True, max_length=200)
    kind = fields.String(load_default="branch", validate=validate.OneOf(domain.WAREHOUSE_KINDS))
    org_unit_id = Id(allow_none=True)
    partner_id = Id(allow_none=True)

    @validates_schema
    def _placed(self, data, **kwargs):
        if data["kind"] == "service_center" and not data.get("partner_id"):
            raise ValidationError("a service centre's shelf names its partner", "partner_id")
        if data["kind"] != "service_center" and data.get("partner_id"):
            raise ValidationError("only a service_center warehouse belongs to a partner",
                                  "partner_id")


class StockSchema(Schema):
    warehouse_id = fields.Integer()
    part_id = fields.Integer()
    on_hand = fields.Integer()
    reserved = fields.Integer()
    available = fields.Integer()


class StockQuerySchema(PageQuerySchema):
    warehouse_id = Id(strict=False)
    part_id = Id(strict=False)

    @validates_schema
    def _one_side(self, data, **kwargs):
        if "warehouse_id" not in data and "part_id" not in data:
            raise ValidationError("give warehouse_id or part_id", "warehouse_id")


class StockAdjustmentSchema(Schema):
    warehouse_id = Id(required=True)
    part_id = Id(required=True)
    qty = fields.Integer(required=True, strict=True,
                         validate=validate.Range(min=-MAX_QTY, max=MAX_QTY))
    reason = Text(required=True, max_length=200)

    @validates("qty")
    def _not_zero(self, value, **kwargs):
        if value == 0:
            raise ValidationError("must not be 0")


class StockMovementSchema(Schema):
    id = fields.Integer()
    warehouse_id = fields.Integer()
    part_id = fields.Integer()
    on_hand_delta = fields.Integer()
    reserved_delta = fields.Integer()
    reason = fields.String()
    parts_order_id = fields.Integer(allow_none=True)
    ticket_id = fields.Integer(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    at = fields.DateTime()


class StockMovementQuerySchema(PageQuerySchema):
    warehouse_id = Id(strict=False, required=True)
    part_id = Id(strict=False)


class PartsOrderSchema(Schema):
    id = fields.Integer()
    partner_id = fields.Integer()
    warehouse_id = fields.Integer()
    ticket_id = fields.Integer(allow_none=True)
    lines = fields.List(fields.Nested(PartQtySchema))
    status = fields.String()
    note = fields.String(allow_none=True)
    submitted_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PartsOrderCreateSchema(Schema):
    # A repair partner orders for itself; the desk names the partner.
    partner_id = Id(allow_none=True)
    warehouse_id = Id(required=True)
    ticket_id = Id(allow_none=True)
    lines = fields.List(fields.Nested(PartQtySchema), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))
    note = Text(max_length=500, allow_none=True)

    @validates("lines")
    def _distinct(self, value, **kwargs):
        _no_repeated_parts(value)


class PartsOrderListQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(domain.ORDER_STATUSES))
    partner_id = Id(strict=False)
    ticket_id = Id(strict=False)


class OrderTransitionSchema(Schema):
    to = fields.String(required=True, validate=validate.OneOf(domain.ORDER_STATUSES))
    note = Text(max_length=500, allow_none=True)


class PartsReturnSchema(Schema):
    id = fields.Integer()
    partner_id = fields.Integer()
    warehouse_id = fields.Integer()
    part_id = fields.Integer()
    ticket_id = fields.Integer(allow_none=True)
    qty = fields.Integer()
    reason = fields.String()
    status = fields.String()
    created_at = fields.DateTime()


class PartsReturnCreateSchema(Schema):
    partner_id = Id(allow_none=True)
    warehouse_id = Id(required=True)
    part_id = Id(required=True)
    ticket_id = Id(allow_none=True)
    qty = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_QTY))
    reason = Text(required=True, max_length=500)


class ListQuerySchema(PageQuerySchema):
    """A plain page (catalogues without filters)."""



AUDITED_RESOURCES = ("ticket", "consumer", "product", "parts_order", "part", "warehouse",
                     "service_center")
AuditQuerySchema = audit_query_schema(AUDITED_RESOURCES)
