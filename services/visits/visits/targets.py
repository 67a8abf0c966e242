"""Monthly visit targets per person, adjustable (holidays, business trips), with progress
counted from completed visits. Set by the person's direct manager (no skip-level)."""
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.database import UnitOfWork, utcnow
from crmkit.directory import UserDirectory, personal_within
from crmkit.errors import Forbidden
from crmkit.pagination import page, paginate
from crmkit.scope import is_direct_report
from visits import domain
from visits.models import Visit, VisitTarget
from visits.schemas import TargetSchema

schema = TargetSchema()


def _completed(unit: UnitOfWork, targets: list[VisitTarget]) -> dict[tuple[int, str], int]:
    """Completed visits per (person, month) of the given targets: one query for a page."""
    if not targets:
        return {}
    month = func.to_char(Visit.planned_at, "YYYY-MM")
    rows = unit.session.execute(
        select(Visit.user_id, month, func.count())
        .where(Visit.status == "completed",
               Visit.user_id.in_({t.user_id for t in targets}),
               month.in_({t.month for t in targets}))
        .group_by(Visit.user_id, month)).all()
    return {(user_id, m): n for user_id, m, n in rows}


def _dump(target: VisitTarget, completed: dict) -> dict:
    effective = max(0, target.target + target.adjustment)
    done = completed.get((target.user_id, target.month), 0)
    return schema.dump({"id": target.id, "user_id": target.user_id, "month": target.month,
                        "target": target.target, "adjustment": target.adjustment,
                        "effective_target": effective, "completed": done,
                        "progress": round(done / effective, 4) if effective else 1.0,
                        "note": target.note})


def set_target(unit: UnitOfWork, people: UserDirectory, data: dict) -> dict:
    person = people.require(data["user_id"], "user_id")
    if not is_direct_report(person.manager_id, unit.caller) and not unit.caller.is_admin:
        raise Forbidden("Only a person's direct manager sets their targets",
                        {"user_id": ["not your direct report"]}, code="skip_level")
    values = {k: data.get(k) for k in ("user_id", "month", "target", "adjustment", "note")}
    stmt = pg_insert(VisitTarget).values(**values, set_by=unit.caller.user_id)
    unit.session.execute(stmt.on_conflict_do_update(
        index_elements=[VisitTarget.user_id, VisitTarget.month],
        set_={k: stmt.excluded[k] for k in ("target", "adjustment", "note", "set_by")}))
    target = unit.session.execute(select(VisitTarget).where(
        VisitTarget.user_id == data["user_id"], VisitTarget.month == data["month"])
    ).scalar_one()
    unit.session.refresh(target)
    dumped = _dump(target, _completed(unit, [target]))
    unit.audit("set", "visit_target", target.id, None, dumped)
    # Reporting shows visits against target; the whole target travels, so the latest
    # event alone says what is in force.
    unit.emit("visit_target_set", {
        "target_id": target.id, "user_id": target.user_id, "month": target.month,
        "target": target.target, "adjustment": target.adjustment,
        "effective_target": dumped["effective_target"], "note": target.note,
        "set_by": unit.caller.user_id, "set_at": utcnow().isoformat()})
    return dumped


def list_targets(unit: UnitOfWork, query: dict) -> dict:
    stmt = select(VisitTarget)
    condition = personal_within(VisitTarget.user_id, unit.caller, domain.MANAGERS)
    if condition is not None:
        stmt = stmt.where(condition)
    if "user_id" in query:
        stmt = stmt.where(VisitTarget.user_id == query["user_id"])
    if "month" in query:
        stmt = stmt.where(VisitTarget.month == query["month"])
    if "year" in query:
        stmt = stmt.where(VisitTarget.month.startswith(f"{query['year']}-"))
    rows = unit.session.execute(paginate(stmt, VisitTarget.id, query["limit"],
                                         query["cursor"])).scalars().all()
    completed = _completed(unit, rows)
    return page([_dump(r, completed) for r in rows], query["limit"])
