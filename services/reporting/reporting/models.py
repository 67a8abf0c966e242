"""Tables of the crm_reporting database: the event archive, the read models built from the
other services' events (pre-aggregated monthly roll-ups, and fact rows only where a fact
changes after it is first counted), and report submissions. The kit's outbox,
handled-events, idempotency and audit tables and the directory copy are created by its
migrations too."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmkit.tables import NAMING_CONVENTION

MONEY = Numeric(18, 2)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- the archive: every event the read models were built from, in the order applied -----
class ArchivedEvent(Base):
    __tablename__ = "event_archive"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(UUID(as_uuid=False), unique=True)
    source: Mapped[str] = mapped_column(String(50))
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    envelope: Mapped[dict] = mapped_column(JSONB)
    archived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


# --- labels kept beside the directory copy -----------------------------------------------
class OrgUnitCopy(Base):
    """Org unit names for the `hq` roll-up (accounts' `org_unit_*` events)."""

    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(1000))
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- channels ----------------------------------------------------------------------------
class PartnerCopy(Base):
    """The partner facts a channel report shows (name, kind, channel share)."""

    __tablename__ = "channel_partners"

    partner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(50))
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_share: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InspectionForm(Base):
    """One row per inspection form: its status and owner change after its lines count."""

    __tablename__ = "inspection_forms"

    inspection_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    partner_id: Mapped[int] = mapped_column(BigInteger)
    partner_name: Mapped[str] = mapped_column(String(200))
    month: Mapped[str] = mapped_column(String(7))
    owner_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    # When the owner held here was read: a late, older event never takes the form back.
    owner_as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_inspection_forms_month_owner_id", "month", "owner_id"),)


class ChannelLineTotal(Base):
    """Inspection lines summed per form and product type. A form is one partner's month,
    so this is the month x partner x owner x product type roll-up; month, partner and
    owner are copied here so the monthly report reads this table alone."""

    __tablename__ = "channel_line_totals"

    inspection_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    product_type: Mapped[str] = mapped_column(String(100), primary_key=True)
    month: Mapped[str] = mapped_column(String(7))
    partner_id: Mapped[int] = mapped_column(BigInteger)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    line_count: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(MONEY)

    __table_args__ = (Index("ix_channel_line_totals_month_owner_id", "month", "owner_id"),)


# --- visits ------------------------------------------------------------------------------
class VisitMonthTotal(Base):
    """Visits per person and month (the month the visit was planned for, UTC, as visits
    counts target progress)."""

    __tablename__ = "visit_month_totals"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    planned: Mapped[int] = mapped_column(Integer, server_default="0")
    checked_in: Mapped[int] = mapped_column(Integer, server_default="0")
    completed: Mapped[int] = mapped_column(Integer, server_default="0")


class VisitedStore(Base):
    """The distinct stores a person completed a visit to in a month (store coverage)."""

    __tablename__ = "visited_stores"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class StoreCopy(Base):
    """Stores and their owners: the stores a person's unit should cover."""

    __tablename__ = "stores"

    store_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger, index=True)
    active: Mapped[bool] = mapped_column(Boolean)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VisitTargetCopy(Base):
    __tablename__ = "visit_targets"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    target: Mapped[int] = mapped_column(Integer)
    adjustment: Mapped[int] = mapped_column(Integer)
    effective_target: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FraudSignalTotal(Base):
    """Fraud signals per person, month raised (UTC) and kind."""

    __tablename__ = "fraud_signal_totals"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(50), primary_key=True)
    signals: Mapped[int] = mapped_column(Integer)


# --- after-sales -------------------------------------------------------------------------
class TicketFact(Base):
    """One row per ticket: status, fault code, repair time and survey score all change
    after the ticket is opened, so tickets keep facts (far fewer than inspection lines)."""

    __tablename__ = "ticket_facts"

    ticket_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Month the ticket was opened (UTC); null until a ticket event brought it.
    month: Mapped[str | None] = mapped_column(String(7), index=True)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    region: Mapped[str | None] = mapped_column(String(100))
    partner_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[str | None] = mapped_column(String(8))
    fault_code: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(100))
    repaired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_breached: Mapped[bool] = mapped_column(Boolean, server_default="false")
    survey_score: Mapped[int | None] = mapped_column(SmallInteger)
    # The ticket's updated_at of the state held here.
    as_of: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PartsUsedTotal(Base):
    """Parts fitted per month (UTC, when logged), service partner and part."""

    __tablename__ = "parts_used_totals"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    partner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    part_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger)


class PartsOrderFact(Base):
    __tablename__ = "parts_order_facts"

    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    partner_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- reports sent up the hierarchy -------------------------------------------------------
class ReportSubmission(Base):
    __tablename__ = "report_submissions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    report: Mapped[str] = mapped_column(String(20))
    month: Mapped[str] = mapped_column(String(7))
    note: Mapped[str | None] = mapped_column(Text)
    sender_id: Mapped[int] = mapped_column(BigInteger, index=True)
    recipient_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # The report's totals as the sender saw them when sending.
    summary: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class ReportComment(Base):
    __tablename__ = "report_comments"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("report_submissions.id"),
                                               index=True)
    author_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


# --- built reports and what they were built from ----------------------------------------
class ReportVersion(Base):
    """A counter per topic that every change of what a cached report reads adds one to,
    in the changing transaction (database triggers, migration 0003): `month:<YYYY-MM>`
    for the channel figures of a month (`channel_line_totals`, `inspection_forms`),
    `global` for everything that reaches every month (`directory_users`, `org_units`,
    `channel_partners`, and any TRUNCATE of these tables). Each topic is split over a few
    `shard` rows (the writing backend's pid picks one) so concurrent writers rarely wait
    on one row; a topic's version is the sum."""

    __tablename__ = "report_versions"

    topic: Mapped[str] = mapped_column(String(20), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class CachedReport(Base):
    """A built report (its JSON) per month, group_by and the caller's scope, with the
    versions it was built at (`stamp`); used only while they are still current. UNLOGGED:
    a cache, lost on a crash and never replicated, shared by every replica."""

    __tablename__ = "report_cache"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    report: Mapped[str] = mapped_column(String(20), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    group_by: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope: Mapped[str] = mapped_column(String(1100), primary_key=True)
    stamp: Mapped[str] = mapped_column(String(60))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                               server_default=func.now())


# What the rebuild empties and replays from the archive (the directory and org unit
# copies are accounts' facts, not derived figures, and stay).
READ_MODELS = (PartnerCopy, InspectionForm, ChannelLineTotal, VisitMonthTotal, VisitedStore,
               StoreCopy, VisitTargetCopy, FraudSignalTotal, TicketFact, PartsUsedTotal,
               PartsOrderFact)
