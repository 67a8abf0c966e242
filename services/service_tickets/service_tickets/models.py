"""Tables of the crm_service_tickets database (the kit's outbox, handled-events, idempotency
and audit tables are created by its migrations too).

Stock is one row per (warehouse, part) holding `on_hand` and `reserved`; CHECK constraints
keep `0 <= reserved <= on_hand` whatever the code does, and every change is a row in
`stock_movements`."""
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmkit.orm import Timestamps
from crmkit.tables import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- consumers and their products -----------------------------------------------------------
class Consumer(Timestamps, Base):
    __tablename__ = "consumers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Digits only (a leading +86 dropped): what lookups compare.
    phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(300))
    region: Mapped[str | None] = mapped_column(String(100))
    gender: Mapped[str | None] = mapped_column(String(16))
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    preferences: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    # The repair partner that registered the consumer at its counter (it keeps seeing them).
    intake_partner_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_consumers_phone", "phone"),)


class Product(Timestamps, Base):
    """A device registered to a consumer."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    model: Mapped[str] = mapped_column(String(100))
    product_line: Mapped[str | None] = mapped_column(String(64))
    model_code: Mapped[str | None] = mapped_column(String(64))
    network_licence_code: Mapped[str | None] = mapped_column(String(64))
    imei: Mapped[str | None] = mapped_column(String(15))
    serial: Mapped[str | None] = mapped_column(String(64))
    accessories: Mapped[list] = mapped_column(ARRAY(String(100)), server_default="{}")
    store_id: Mapped[int | None] = mapped_column(BigInteger)
    invoice_no: Mapped[str | None] = mapped_column(String(64))
    sold_at: Mapped[date | None] = mapped_column(Date)
    warranty_until: Mapped[date | None] = mapped_column(Date)
    registered_via: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="active")

    __table_args__ = (
        # One device, one registration: the same IMEI or serial twice is a conflict.
        Index("uq_products_imei", "imei", unique=True, postgresql_where="imei IS NOT NULL"),
        Index("uq_products_serial", "serial", unique=True,
              postgresql_where="serial IS NOT NULL"),
        Index("ix_products_consumer_id", "consumer_id"),
    )


class ProductEvent(Base):
    """What happened to a product: registered, returned, exchanged, repaired."""

    __tablename__ = "product_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(500))
    ticket_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_product_history_product_id_id", "product_id", "id"),)


# --- service centres and dispatch -----------------------------------------------------------
class ServiceCenter(Timestamps, Base):
    """An authorised service centre: a channel partner (by id) that repairs."""

    __tablename__ = "service_centers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    partner_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(100))
    product_lines: Mapped[list] = mapped_column(ARRAY(String(64)), server_default="{}")
    # Open tickets it takes at once; dispatch skips a full centre.
    capacity: Mapped[int] = mapped_column(Integer, server_default="50")
    active: Mapped[bool] = mapped_column(server_default="true")

    __table_args__ = (CheckConstraint("capacity > 0", name="capacity_positive"),)


class DispatchRule(Timestamps, Base):
    """Tickets of `region` (and `product_line`, if set) go to the least loaded of
    `service_center_ids`; rules are tried by ascending `priority`."""

    __tablename__ = "dispatch_rules"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    priority: Mapped[int] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(100))
    product_line: Mapped[str | None] = mapped_column(String(64))
    service_center_ids: Mapped[list] = mapped_column(ARRAY(BigInteger))


# --- tickets ------------------------------------------------------------------------------
class Ticket(Timestamps, Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    consumer_id: Mapped[int] = mapped_column(ForeignKey("consumers.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16), server_default="repair")
    priority: Mapped[str] = mapped_column(String(8), server_default="normal")
    region: Mapped[str | None] = mapped_column(String(100))
    fault_description: Mapped[str] = mapped_column(String(2000))
    fault_code: Mapped[str | None] = mapped_column(String(32))
    fault_cause: Mapped[str | None] = mapped_column(String(500))
    in_warranty: Mapped[bool] = mapped_column(server_default="false")
    status: Mapped[str] = mapped_column(String(16), server_default="new")
    service_center_id: Mapped[int | None] = mapped_column(ForeignKey("service_centers.id"))
    # The partner the centre is (copied so scope checks need no join).
    partner_id: Mapped[int | None] = mapped_column(BigInteger)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sla_breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the centre is warned that the due time is near (once, at `sla_warn_at`).
    sla_warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_tickets_partner_id", "partner_id"),
        Index("ix_tickets_consumer_id", "consumer_id"),
        Index("ix_tickets_product_id", "product_id"),
        Index("ix_tickets_service_center_open", "service_center_id",
              postgresql_where="status NOT IN ('done', 'closed', 'cancelled')"),
        # The SLA sweeper reads only open, not yet breached tickets.
        Index("ix_tickets_warn_open", "sla_warn_at",
              postgresql_where="sla_warned_at IS NULL "
                               "AND status NOT IN ('done', 'closed', 'cancelled')"),
        Index("ix_tickets_due_open", "due_at",
              postgresql_where="sla_breached_at IS NULL "
                               "AND status NOT IN ('done', 'closed', 'cancelled')"),
    )


class TicketChange(Base):
    """The ticket's status history (and dispatches)."""

    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(1000))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_ticket_history_ticket_id_id", "ticket_id", "id"),)


class WorkLogEntry(Base):
    __tablename__ = "work_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    text: Mapped[str] = mapped_column(String(2000))
    parts_used: Mapped[list] = mapped_column(JSONB, server_default="[]")
    author_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_work_log_ticket_id_id", "ticket_id", "id"),)


class Survey(Timestamps, Base):
    """Satisfaction after a closed ticket: one per ticket, answered once."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    score: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(String(1000))
    answered_by: Mapped[int | None] = mapped_column(BigInteger)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)


# --- spare parts --------------------------------------------------------------------------
class Part(Timestamps, Base):
    __tablename__ = "parts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    models: Mapped[list] = mapped_column(ARRAY(String(100)), server_default="{}")
    active: Mapped[bool] = mapped_column(server_default="true")

    __table_args__ = (Index("uq_parts_code_lower", func.lower(code), unique=True),
                      CheckConstraint("unit_price >= 0", name="price_not_negative"))


class Warehouse(Timestamps, Base):
    """HQ and branch stocks (org_unit_id), or a service centre's own shelf (partner_id)."""

    __tablename__ = "warehouses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    org_unit_id: Mapped[int | None] = mapped_column(BigInteger)
    partner_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("uq_warehouses_code_lower", func.lower(code), unique=True),
        Index("uq_warehouses_partner_id", "partner_id", unique=True,
              postgresql_where="partner_id IS NOT NULL"),
    )


class Stock(Base):
    __tablename__ = "stocks"

    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, server_default="0")
    reserved: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())

    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
        Index("ix_stocks_part_id", "part_id"),
    )


class StockMovement(Base):
    """The adjustment log: every change of a stock row, why, and by whom."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(BigInteger)
    part_id: Mapped[int] = mapped_column(BigInteger)
    on_hand_delta: Mapped[int] = mapped_column(Integer, server_default="0")
    reserved_delta: Mapped[int] = mapped_column(Integer, server_default="0")
    reason: Mapped[str] = mapped_column(String(200))
    parts_order_id: Mapped[int | None] = mapped_column(BigInteger)
    ticket_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_stock_movements_stock", "warehouse_id", "part_id", "id"),)


class TicketReservation(Base):
    """Stock on a service centre's shelf held for one ticket (from a parts order for it);
    the ticket's work log consumes it first."""

    __tablename__ = "ticket_reservations"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    part_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    qty: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("qty >= 0", name="qty_not_negative"),)


class PartsOrder(Timestamps, Base):
    __tablename__ = "parts_orders"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    partner_id: Mapped[int] = mapped_column(BigInteger)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    status: Mapped[str] = mapped_column(String(16), server_default="submitted")
    note: Mapped[str | None] = mapped_column(String(500))
    submitted_by: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_parts_orders_partner_id_id", "partner_id", "id"),)


class PartsOrderLine(Base):
    __tablename__ = "parts_order_lines"

    order_id: Mapped[int] = mapped_column(ForeignKey("parts_orders.id"), primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"), primary_key=True)
    qty: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("qty > 0", name="qty_positive"),)


class PartsReturn(Timestamps, Base):
    """A faulty part sent back from a service centre to a warehouse."""

    __tablename__ = "parts_returns"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    partner_id: Mapped[int] = mapped_column(BigInteger)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    part_id: Mapped[int] = mapped_column(ForeignKey("parts.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    qty: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), server_default="sent")
    created_by: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("qty > 0", name="qty_positive"),
                      Index("ix_parts_returns_partner_id_id", "partner_id", "id"))
