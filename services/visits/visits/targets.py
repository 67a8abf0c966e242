"""Monthly visit targets per person, adjustable (holidays, business trips), with progress
counted from completed visits. Set by the person's direct manager (no skip-level)."""
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.database import UnitOfWork
from crmkit.directory import UserDirectory, personal_within
from crmkit.errors import Forbidden
from crmkit.pagination import page, paginate
from visits import domain
from visits.models import Visit, VisitTarget
from visits.schemas import TargetSchema

schema = TargetSchema()


def _month_range(month: str) -> tuple[date, date]:
    year, number = int(month[:4]), int(month[5:])
    start = date(year, number, 1)
    end = date(year + number // 12, number % 12 + 1, 1)
    return start, end


def _completed(unit: UnitOfWork, user_id: int, month: str) -> int:
    start, end = _month_range(month)
    return unit.session.execute(select(func.count()).select_from(Visit).where(
        Visit.user_id == user_id, Visit.status == "completed",
        Visit.planned_at >= start, Visit.planned_at < end)).scalar_one()


def _dump(unit: UnitOfWork, target: VisitTarget) -> dict:
    effective = max(0, target.target + target.adjustment)
    done = _completed(unit, target.user_id, target.month)
    return schema.dump({"id": target.id, "user_id": target.user_id, "month": target.month,
                        "target": target.target, "adjustment": target.adjustment,
                        "effective_target": effective, "completed": done,
                        "progress": round(done / effective, 4) if effective else 1.0,
                        "note": target.note})


def set_target(unit: UnitOfWork, people: UserDirectory, data: dict) -> dict:
    person = people.require(data["user_id"], "user_id")
    if person.manager_id != unit.caller.user_id and not unit.caller.is_admin:
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
    dumped = _dump(unit, target)
    unit.audit("set", "visit_target", target.id, None, dumped)
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
    return page([_dump(unit, r) for r in rows], query["limit"])
