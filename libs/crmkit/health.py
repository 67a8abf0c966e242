"""Readiness a service answers over RPC, so the gateway's /readyz proves the bus, the
service and its database (and object store, where it has one) in one call."""
from sqlalchemy import text

from crmkit.database import UnitOfWork


def database_ready(unit: UnitOfWork) -> bool:
    try:
        unit.session.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 (readiness reports, it does not raise)
        return False
