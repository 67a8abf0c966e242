"""Tables of the crm_visits database (the kit's outbox, handled-events, idempotency and
audit tables, and the directory read copy, are created by its migrations too)."""
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmkit.orm import Timestamps
from crmkit.tables import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class StoreCopy(Base):
    """Read copy of channels' stores (locations and owners), fed by its events."""

    __tablename__ = "store_copies"

    store_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    # When the fact held here happened in channels: older events never overwrite newer.
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CustomerCopy(Base):
    """Read copy of accounts' customers: where they are and who may visit them, fed by
    its events (merges repoint visits to the surviving customer)."""

    __tablename__ = "customer_copies"

    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    team_member_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    status: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VisitType(Timestamps, Base):
    """Admin-defined kind of visit: its custom detail fields and photo policy."""

    __tablename__ = "visit_types"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    camera_only: Mapped[bool] = mapped_column(Boolean, server_default="true")
    fields: Mapped[list] = mapped_column(JSONB, server_default="[]")


class Visit(Timestamps, Base):
    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    # A visit is to a store or to a customer.
    store_id: Mapped[int | None] = mapped_column(BigInteger)
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    visit_type_id: Mapped[int | None] = mapped_column(ForeignKey("visit_types.id"))
    planned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), server_default="planned")
    created_by: Mapped[int] = mapped_column(BigInteger)
    check_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    check_in_lat: Mapped[float | None] = mapped_column(Float)
    check_in_lon: Mapped[float | None] = mapped_column(Float)
    check_in_accuracy_m: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    within_radius: Mapped[bool | None] = mapped_column(Boolean)
    check_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    feedback: Mapped[str | None] = mapped_column(Text)
    needs: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict | None] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_visits_user_id_check_in_at", "user_id", "check_in_at"),
        Index("ix_visits_user_id_planned_at", "user_id", "planned_at"),
        Index("ix_visits_store_id", "store_id"),
        Index("ix_visits_customer_id", "customer_id"),
        CheckConstraint("(store_id IS NULL) <> (customer_id IS NULL)", name="one_subject"),
    )


class FraudSignal(Base):
    __tablename__ = "fraud_signals"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSONB)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                server_default=func.now())

    __table_args__ = (Index("ix_fraud_signals_visit_id", "visit_id"),
                      Index("ix_fraud_signals_user_id_id", "user_id", "id"))


class VisitTarget(Timestamps, Base):
    """Visits expected of a person in a month; `adjustment` lowers (or raises) it for
    holidays and business trips."""

    __tablename__ = "visit_targets"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    month: Mapped[str] = mapped_column(String(7))
    target: Mapped[int] = mapped_column(Integer)
    adjustment: Mapped[int] = mapped_column(Integer, server_default="0")
    note: Mapped[str | None] = mapped_column(String(200))
    set_by: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("user_id", "month"),
                      CheckConstraint("target >= 0", name="target_not_negative"))


class Photo(Base):
    """A photo slot, then (once the stored object checks out) a confirmed photo."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))
    object_key: Mapped[str] = mapped_column(String(200), unique=True)
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    exif_taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exif_lat: Mapped[float | None] = mapped_column(Float)
    exif_lon: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    upload_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_photos_visit_id", "visit_id"),
                      Index("ix_photos_sha256", "sha256"),
                      Index("ix_photos_pending", "upload_expires_at",
                            postgresql_where=text("status = 'pending'")))
