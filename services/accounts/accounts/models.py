"""Tables of the crm_accounts database."""
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crmkit.orm import Timestamps
from crmkit.tables import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OrgUnit(Timestamps, Base):
    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    # Materialised path of ids, e.g. /1/4/9/: "my subtree" is a prefix match.
    path: Mapped[str] = mapped_column(String(1000), unique=True)

    __table_args__ = (
        Index("ix_org_units_path_prefix", "path", postgresql_ops={"path": "text_pattern_ops"}),
        Index("ix_org_units_parent_id", "parent_id"),
    )


class User(Timestamps, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Repair-partner users are bound to their partner company (owned by channels).
    partner_id: Mapped[int | None] = mapped_column(BigInteger)
    locale: Mapped[str] = mapped_column(String(10), server_default="zh-CN")
    time_zone: Mapped[str] = mapped_column(String(64), server_default="Asia/Shanghai")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Access tokens issued before this instant are refused (role, unit or status changed).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_users_username_lower", func.lower(username), unique=True),
        Index("ix_users_org_unit_id", "org_unit_id"),
        Index("ix_users_manager_id", "manager_id"),
    )


class AuthSession(Base):
    """One login: holds the hashed, rotating refresh secret."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    refresh_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class Customer(Timestamps, Base):
    """A B2B account. Personal: its owner, its team members and managers above the owner
    see it. `*_key` columns hold the normalised forms duplicate detection compares."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    type: Mapped[str] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(String(100))
    grade: Mapped[str | None] = mapped_column(String(8))
    phone: Mapped[str | None] = mapped_column(String(40))
    phone_key: Mapped[str | None] = mapped_column(String(40))
    tax_id: Mapped[str | None] = mapped_column(String(40))
    tax_key: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(500))
    # Where to visit it (a customer without address and location cannot be visited).
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    team_member_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))

    __table_args__ = (
        Index("ix_customers_name_key_trgm", "name_key", postgresql_using="gin",
              postgresql_ops={"name_key": "gin_trgm_ops"}),
        Index("ix_customers_phone_key", "phone_key"),
        Index("ix_customers_tax_key", "tax_key"),
        Index("ix_customers_owner_id", "owner_id"),
        Index("ix_customers_parent_id", "parent_id"),
        Index("ix_customers_team_member_ids", "team_member_ids", postgresql_using="gin"),
    )


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class FieldPermission(Base):
    """Per role, a field of a resource may be hidden, masked or read-only."""

    __tablename__ = "field_permissions"

    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    resource: Mapped[str] = mapped_column(String(50), primary_key=True)
    field: Mapped[str] = mapped_column(String(50), primary_key=True)
    rule: Mapped[str] = mapped_column(String(16))
