"""Tables of the crm_notifications database (the kit's outbox, handled-events, idempotency and
audit tables are created by its migrations too)."""
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from crmkit.tables import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
