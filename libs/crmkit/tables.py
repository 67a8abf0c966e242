"""Tables the kit keeps in every service's own database: outbox, handled events,
idempotency keys and the audit log. Each service's migrations create them."""
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

kit_metadata = MetaData(naming_convention=NAMING_CONVENTION)

outbox = Table(
    "outbox", kit_metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("actor", JSONB, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("request_id", String(64)),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
)
# The relay only ever scans unpublished rows; keep that scan small however big the table.
Index("ix_outbox_unpublished", outbox.c.id, postgresql_where=text("published_at IS NULL"))

processed_events = Table(
    "processed_events", kit_metadata,
    Column("consumer", String(200), primary_key=True),
    Column("event_id", UUID(as_uuid=False), primary_key=True),
    Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

idempotency_keys = Table(
    "idempotency_keys", kit_metadata,
    Column("scope", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("response", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

audit_log = Table(
    "audit_log", kit_metadata,
    Column("id", BigInteger, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor_id", BigInteger),
    Column("action", String(50), nullable=False),
    Column("resource", String(50), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("request_id", String(64)),
    Column("note", Text),
)
Index("ix_audit_log_resource", audit_log.c.resource, audit_log.c.resource_id, audit_log.c.id)
