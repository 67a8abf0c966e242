"""Tables of the crm_notifications database (the kit's outbox, handled-events, idempotency
and audit tables, and the directory read copy, are created by its migrations too)."""
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, MetaData, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmkit.tables import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Notification(Base):
    """One inbox item of one user, rendered in their language when it was created."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    related_resource: Mapped[str | None] = mapped_column(String(50))
    related_id: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    # The event that caused it: one notice per user and event, however often it arrives.
    event_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_notifications_user_event_kind", "user_id", "event_id", "kind", unique=True),
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_unread", "user_id", postgresql_where=text("read_at IS NULL")),
    )


class Reminder(Base):
    """A reminder of a user's: fires at `next_fire_at` into the inbox, then repeats by its
    rule or ends. Firing claims rows with SKIP LOCKED, so replicas never fire one twice."""

    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), server_default="follow_up")
    repeat: Mapped[str] = mapped_column(String(16), server_default="none")
    related_resource: Mapped[str | None] = mapped_column(String(50))
    related_id: Mapped[int | None] = mapped_column(BigInteger)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_fire_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fired_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())

    __table_args__ = (
        Index("ix_reminders_due", "next_fire_at", postgresql_where=text("status = 'active'")),
        Index("ix_reminders_user_id_id", "user_id", "id"),
    )


class InspectionCopy(Base):
    """Read copy of channels' inspection forms: who must fill which month's form."""

    __tablename__ = "inspection_copies"

    inspection_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    partner_name: Mapped[str] = mapped_column(String(200))
    month: Mapped[str] = mapped_column(String(7), index=True)
    status: Mapped[str] = mapped_column(String(16))


class ScheduledRun(Base):
    """A scheduled job's run for a period (e.g. the monthly push for 2026-11): the primary
    key makes it happen once, whichever replica gets there first."""

    __tablename__ = "scheduled_runs"

    job: Mapped[str] = mapped_column(String(50), primary_key=True)
    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                             server_default=func.now())
    notices: Mapped[int] = mapped_column(BigInteger, server_default="0")


class Preference(Base):
    """Where a user also wants their notices: e-mail and SMS (the inbox always gets them),
    and kinds they do not want sent outside the inbox."""

    __tablename__ = "preferences"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(200))
    email_enabled: Mapped[bool] = mapped_column(server_default=text("false"))
    phone: Mapped[str | None] = mapped_column(String(32))
    sms_enabled: Mapped[bool] = mapped_column(server_default=text("false"))
    muted_kinds: Mapped[list] = mapped_column(ARRAY(String(50)), server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class WebhookSubscription(Base):
    """A partner system that receives notices of some kinds, signed with its secret."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(500))
    # Needed in clear to sign with; never answered after creation.
    secret: Mapped[str] = mapped_column(String(200))
    kinds: Mapped[list] = mapped_column(ARRAY(String(50)))
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class Delivery(Base):
    """One notice on its way out by e-mail, SMS or webhook: the delivery log. Sent by a
    timer that claims due rows with SKIP LOCKED; a failure is retried with backoff until
    `max_attempts`, then kept as `failed` (the inbox copy is never lost)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(50))
    notification_id: Mapped[int | None] = mapped_column(BigInteger)
    subscription_id: Mapped[int | None] = mapped_column(BigInteger)
    event_id: Mapped[str | None] = mapped_column(String(36))
    target: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(BigInteger, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                      server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # The same notice never goes out twice on one channel, nor one event twice to one
        # subscriber.
        Index("uq_deliveries_notification_channel", "notification_id", "channel",
              unique=True, postgresql_where=text("notification_id IS NOT NULL")),
        Index("uq_deliveries_subscription_event_kind", "subscription_id", "event_id", "kind",
              unique=True, postgresql_where=text("subscription_id IS NOT NULL")),
        Index("ix_deliveries_due", "next_attempt_at",
              postgresql_where=text("status = 'pending'")),
    )


class TemplateOverride(Base):
    """An admin's wording of a notice kind in one language, replacing the shipped one."""

    __tablename__ = "template_overrides"

    kind: Mapped[str] = mapped_column(String(50), primary_key=True)
    locale: Mapped[str] = mapped_column(String(10), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
