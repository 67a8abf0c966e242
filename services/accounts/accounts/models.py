"""Tables of the crm_accounts database."""
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
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
