"""Readiness checks a service answers over RPC, so the gateway's /readyz proves the bus,
the service and its database (and object store, where it has one) in one call."""
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine


def check_database(engine: Engine) -> dict:
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}
    except Exception as exc:  # noqa: BLE001 (readiness reports, it does not raise)
        return {"ok": False, "error": type(exc).__name__}
