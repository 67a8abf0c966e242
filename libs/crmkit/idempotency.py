"""Idempotent creates: the `Idempotency-Key` a client sent (carried in context data) is
stored with the response in the same transaction as the created record, so a retry after
a crash or a lost reply gets the original answer and creates nothing new."""
import functools

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.context import IDEMPOTENCY_KEY, REQUEST_HASH
from crmkit.database import UnitOfWork, unit_of_work_of
from crmkit.errors import Conflict
from crmkit.tables import idempotency_keys


def run_idempotently(unit: UnitOfWork, operation: str, key: str | None,
                     request_hash: str | None, create):
    if not key:
        return create()
    scope = f"{unit.caller.user_id}:{operation}"
    # A concurrent request with the same key blocks on this insert until the first
    # commits, then finds the stored response.
    claimed = unit.session.execute(
        pg_insert(idempotency_keys)
        .values(scope=scope, key=key, request_hash=request_hash or "")
        .on_conflict_do_nothing().returning(idempotency_keys.c.key)).first()
    if claimed is None:
        row = unit.session.execute(select(idempotency_keys).where(
            idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)).one()
        if row.request_hash != (request_hash or ""):
            raise Conflict("This Idempotency-Key was used with a different request",
                           {"Idempotency-Key": ["reused with a different request"]},
                           code="idempotency_key_reused")
        return row.response
    response = create()
    unit.session.execute(update(idempotency_keys).where(
        idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
        .values(response=response))
    return response


def idempotent(operation: str):
    """Decorate an RPC method that creates something; place it under `@rpc`."""
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            unit = unit_of_work_of(self)
            return run_idempotently(unit, operation, unit.context.get(IDEMPOTENCY_KEY),
                                    unit.context.get(REQUEST_HASH),
                                    lambda: fn(self, *args, **kwargs))
        return wrapper
    return decorator
