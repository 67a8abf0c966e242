"""Scope checks every service_tickets use case shares: the desk sees all, a repair partner
only what is dispatched to it (or ordered by it), everyone else nothing."""
from sqlalchemy import select

from crmkit.database import UnitOfWork
from crmkit.errors import Forbidden, ValidationFailed, missing
from crmkit.pagination import page, paginate
from service_tickets import domain


def invalid(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(problem, {field: [problem]})


def require(unit: UnitOfWork, allowed: bool, action: str) -> None:
    if not allowed:
        raise Forbidden(f"Your role may not {action}")


def require_desk(unit: UnitOfWork, action: str) -> None:
    require(unit, domain.is_desk(unit.caller), action)


def require_keeper(unit: UnitOfWork, action: str) -> None:
    """Catalogue, warehouses, stock counts, service centres and dispatch rules."""
    require(unit, bool(unit.caller.roles & domain.STOCK_KEEPERS), action)


def require_reader(unit: UnitOfWork, what: str) -> None:
    require(unit, domain.may_read_tickets(unit.caller), f"see {what}")


def partner_scoped(stmt, model, unit: UnitOfWork):
    """Restrict a query on a model with `partner_id` to what the caller sees."""
    if unit.caller.roles & domain.READERS:
        return stmt
    return stmt.where(model.partner_id == unit.caller.partner_id)


def visible(unit: UnitOfWork, model, record_id: int, what: str, *, field: str | None = None,
            lock: bool = False):
    """The record if the caller sees it; 404 (or 400 on `field`) otherwise: a record
    outside scope answers as if it did not exist."""
    stmt = select(model).where(model.id == record_id)
    if hasattr(model, "partner_id"):
        stmt = partner_scoped(stmt, model, unit)
    return unit.one_or_missing(stmt, what, field, lock_of=model if lock else None)


def exists(unit: UnitOfWork, model, record_id: int, what: str, field: str):
    """A catalogue record (part, warehouse, service centre) named in a request."""
    record = unit.session.get(model, record_id)
    if record is None:
        raise missing(what, field)
    return record


def list_page(unit: UnitOfWork, stmt, id_column, query: dict, dump) -> dict:
    rows = unit.session.execute(paginate(stmt, id_column, query["limit"],
                                         query["cursor"])).scalars().all()
    return page([dump(row) for row in rows], query["limit"])
