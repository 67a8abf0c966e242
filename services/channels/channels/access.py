"""Scope checks every channels use case shares: find a record the caller may see, check
they may change it, check a new owner."""
from sqlalchemy import or_, select

from channels import domain
from crmkit.database import UnitOfWork
from crmkit.directory import Person, UserDirectory, owned_within
from crmkit.errors import Forbidden, ValidationFailed
from crmkit.pagination import page, paginate
from crmkit.scope import may_assign_to


def invalid(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(problem, {field: [problem]})


def scoped(stmt, model, unit: UnitOfWork):
    """Restrict a query on an owned model to the caller's subtree."""
    condition = owned_within(model.owner_id, unit.caller)
    return stmt if condition is None else stmt.where(condition)


def visible(unit: UnitOfWork, model, record_id: int, what: str, *, field: str | None = None,
            lock: bool = False):
    """The record if it exists in the caller's scope; 404 (or 400 on `field`) otherwise:
    a record outside scope answers as if it did not exist."""
    return unit.one_or_missing(scoped(select(model).where(model.id == record_id), model, unit),
                               what, field, lock_of=model if lock else None)


def require_maintainer(unit: UnitOfWork, owner_id: int, what: str) -> None:
    if not domain.may_maintain(unit.caller, owner_id):
        raise Forbidden(f"You may not change this {what}")


def check_new_owner(unit: UnitOfWork, people: UserDirectory, owner_id: int,
                    field: str = "owner_id") -> Person:
    """An owner must be an active user in the caller's subtree; channel owners keep what
    they create."""
    if not domain.may_assign_owner(unit.caller, owner_id):
        raise Forbidden("Your role may only own records itself",
                        {field: ["must be yourself"]})
    return people.require(owner_id, field, within=unit.caller)


def require_role(unit: UnitOfWork, roles: frozenset, action: str) -> None:
    if not unit.caller.roles & roles:
        raise Forbidden(f"Your role may not {action}")


def list_page(unit: UnitOfWork, model, query: dict, equal: tuple[str, ...],
              searched: tuple = (), dump=None) -> dict:
    """One page of an owned model in scope: `equal` filters by the query's values, `q`
    searches the `searched` columns (contains, case-insensitive)."""
    stmt = scoped(select(model), model, unit)
    for name in equal:
        if name in query:
            stmt = stmt.where(getattr(model, name) == query[name])
    if "q" in query and searched:
        pattern = f"%{query['q']}%"
        stmt = stmt.where(or_(*(column.ilike(pattern) for column in searched)))
    rows = unit.session.execute(paginate(stmt, model.id, query["limit"],
                                         query["cursor"])).scalars().all()
    return page([dump(r) for r in rows], query["limit"])


def check_assignee(unit: UnitOfWork, people: UserDirectory, owner_id: int,
                   field: str = "owner_id") -> Person:
    """Work (an action plan, an inspection form to fill) goes to yourself or a direct
    report: no skip-level commands. Admins stand outside the chain."""
    person = people.require(owner_id, field, within=unit.caller)
    if not unit.caller.is_admin and not may_assign_to(unit.caller, person.user_id,
                                                      person.manager_id):
        raise Forbidden("Work goes to yourself or your direct reports only",
                        {field: ["not your direct report"]}, code="skip_level")
    return person
