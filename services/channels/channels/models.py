"""Tables of the crm_channels database (the kit's outbox, handled-events, idempotency and
audit tables, and the directory read copy, are created by its migrations too).

Operational records belong to the org unit of their owner: scope is the owner's place in
the directory read copy, so records follow their owner when the org tree changes."""
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
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmkit.orm import Timestamps
from crmkit.tables import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Partner(Timestamps, Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    tier: Mapped[str | None] = mapped_column(String(32))
    credit_limit: Mapped[Decimal] = mapped_column(Numeric(16, 2), server_default="0")
    cooperation_model: Mapped[str | None] = mapped_column(String(200))
    # Share of the manufacturer's products in the partner's sales, in percent.
    channel_share: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    owner_id: Mapped[int] = mapped_column(BigInteger)
    contacts: Mapped[list] = mapped_column(JSONB, server_default="[]")
    status: Mapped[str] = mapped_column(String(16), server_default="active")

    __table_args__ = (
        Index("uq_partners_code_lower", func.lower(code), unique=True),
        Index("ix_partners_owner_id", "owner_id"),
        Index("ix_partners_parent_id", "parent_id"),
        # Search by any part of the name (`ILIKE '%...%'`, Chinese included) uses trigrams.
        Index("ix_partners_name_trgm", "name", postgresql_using="gin",
              postgresql_ops={"name": "gin_trgm_ops"}),
        CheckConstraint("credit_limit >= 0", name="credit_not_negative"),
    )


class PartnerChange(Base):
    """History of a partner's tier, owner and credit limit (what changed, from, to)."""

    __tablename__ = "partner_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(String(200))
    new_value: Mapped[str | None] = mapped_column(String(200))
    changed_by: Mapped[int | None] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    note: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_partner_history_partner_id_id", "partner_id", "id"),)


class Store(Timestamps, Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    address: Mapped[str | None] = mapped_column(String(500))
    lat: Mapped[Decimal | None] = mapped_column(Numeric(10, 7))
    lon: Mapped[Decimal | None] = mapped_column(Numeric(10, 7))
    region: Mapped[str | None] = mapped_column(String(100))
    brand_center: Mapped[str | None] = mapped_column(String(100))
    owner_id: Mapped[int] = mapped_column(BigInteger)
    staff: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default="{}")
    products: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default="{}")
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    import_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("uq_stores_code_lower", func.lower(code), unique=True),
        Index("ix_stores_owner_id", "owner_id"),
        Index("ix_stores_partner_id", "partner_id"),
        CheckConstraint("(lat IS NULL) = (lon IS NULL)", name="lat_lon_together"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180",
                        name="lat_lon_range"),
    )


class ImportJob(Base):
    """A bulk import: the uploaded file, then its outcome (all rows or none)."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    filename: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    total: Mapped[int] = mapped_column(Integer, server_default="0")
    processed: Mapped[int] = mapped_column(Integer, server_default="0")
    imported: Mapped[int] = mapped_column(Integer, server_default="0")
    error_count: Mapped[int] = mapped_column(Integer, server_default="0")
    errors: Mapped[list] = mapped_column(JSONB, server_default="[]")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")

    __table_args__ = (
        # The same file uploaded again by the same person is the same import.
        UniqueConstraint("created_by", "kind", "sha256"),
    )


class Inspection(Base):
    """渠道点检单: one per partner and month."""

    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    month: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    owner_id: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[int] = mapped_column(BigInteger)
    store_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    basic_info: Mapped[str | None] = mapped_column(Text)
    cooperation_model: Mapped[str | None] = mapped_column(String(200))
    channel_share: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    dynamics: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[int | None] = mapped_column(BigInteger)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_comment: Mapped[str | None] = mapped_column(Text)
    line_count: Mapped[int] = mapped_column(Integer, server_default="0")
    total_quantity: Mapped[int] = mapped_column(BigInteger, server_default="0")
    total_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2), server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())

    __table_args__ = (
        UniqueConstraint("partner_id", "month"),
        Index("ix_inspections_owner_id", "owner_id"),
        Index("ix_inspections_status_month", "status", "month"),
        Index("ix_inspections_updated_at", "updated_at"),
    )


class InspectionLine(Base):
    __tablename__ = "inspection_lines"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id"))
    customer_name: Mapped[str] = mapped_column(String(200))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    product_type: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())

    __table_args__ = (
        Index("ix_inspection_lines_inspection_id_id", "inspection_id", "id"),
        CheckConstraint("quantity >= 0 AND amount >= 0", name="not_negative"),
    )


class ActionPlan(Timestamps, Base):
    """A store or channel action plan for one period; earlier periods of the same subject
    are its history."""

    __tablename__ = "action_plans"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    template: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    title: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(100))
    brand_center: Mapped[str | None] = mapped_column(String(100))
    owner_id: Mapped[int] = mapped_column(BigInteger)
    collaborator_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    period: Mapped[str] = mapped_column(String(7))

    __table_args__ = (
        # One plan per subject and period; the unset one of store/partner compares equal.
        UniqueConstraint("template", "store_id", "partner_id", "period",
                         postgresql_nulls_not_distinct=True),
        CheckConstraint("(template = 'store' AND store_id IS NOT NULL AND partner_id IS NULL)"
                        " OR (template = 'channel' AND partner_id IS NOT NULL"
                        " AND store_id IS NULL)", name="subject_matches_template"),
        Index("ix_action_plans_owner_id", "owner_id"),
        Index("ix_action_plans_collaborator_ids", "collaborator_ids", postgresql_using="gin"),
    )


class ActionPlanEntry(Base):
    __tablename__ = "action_plan_entries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("action_plans.id"))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    due: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())

    __table_args__ = (Index("ix_action_plan_entries_plan_id_id", "plan_id", "id"),)
