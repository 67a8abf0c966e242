"""The monthly visit KPIs per employee: visits planned, checked in and completed against
the effective target, store coverage (the distinct active stores of the employee's unit
visited in the month, out of all of them), and fraud signals by kind."""
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from crmkit.context import Caller
from crmkit.directory import directory_users
from reporting.access import visit_scope
from reporting.models import (
    FraudSignalTotal,
    StoreCopy,
    VisitedStore,
    VisitMonthTotal,
    VisitTargetCopy,
)

COUNTERS = ("planned", "checked_in", "completed")


def ratio(part: int, whole: int | None) -> float | None:
    return round(part / whole, 4) if whole else None


def _stores_per_path(session: Session) -> dict[str, int]:
    owner = directory_users
    return dict(session.execute(
        select(owner.c.org_path, func.count()).select_from(StoreCopy)
        .join(owner, owner.c.user_id == StoreCopy.owner_id)
        .where(StoreCopy.active.is_(True)).group_by(owner.c.org_path)).all())


def _visited(session: Session, caller: Caller, month: str) -> dict[int, tuple[int, int]]:
    """Per person: (distinct stores visited, of which stores of their own unit)."""
    visitor, owner = aliased(directory_users), aliased(directory_users)
    v = VisitedStore
    within = owner.c.org_path.startswith(visitor.c.org_path) & StoreCopy.active.is_(True)
    stmt = (select(v.user_id, func.count(), func.count().filter(within)).select_from(v)
            .outerjoin(visitor, visitor.c.user_id == v.user_id)
            .outerjoin(StoreCopy, StoreCopy.store_id == v.store_id)
            .outerjoin(owner, owner.c.user_id == StoreCopy.owner_id)
            .where(v.month == month).group_by(v.user_id))
    return {u: (n, k) for u, n, k in session.execute(visit_scope(stmt, v.user_id, caller))}


def _blank() -> dict:
    return {**dict.fromkeys(COUNTERS, 0), "target": None, "effective_target": None,
            "fraud_signals": 0, "fraud_by_kind": {}}


def build(session: Session, caller: Caller, month: str) -> dict:
    people: dict[int, dict] = defaultdict(_blank)
    t = VisitMonthTotal
    for user_id, *counts in session.execute(visit_scope(
            select(t.user_id, t.planned, t.checked_in, t.completed).where(t.month == month),
            t.user_id, caller)):
        people[user_id].update(zip(COUNTERS, counts, strict=True))
    g = VisitTargetCopy
    for user_id, target, effective in session.execute(visit_scope(
            select(g.user_id, g.target, g.effective_target).where(g.month == month),
            g.user_id, caller)):
        people[user_id].update(target=target, effective_target=effective)
    f = FraudSignalTotal
    for user_id, kind, signals in session.execute(visit_scope(
            select(f.user_id, f.kind, f.signals).where(f.month == month), f.user_id, caller)):
        people[user_id]["fraud_by_kind"][kind] = signals
        people[user_id]["fraud_signals"] += signals
    visited = _visited(session, caller, month)
    for user_id in visited.keys() - people.keys():
        people[user_id] = _blank()
    directory = {row.user_id: row for row in session.execute(
        select(directory_users).where(directory_users.c.user_id.in_(list(people))))}
    per_path = _stores_per_path(session)
    rows = []
    for user_id, figures in people.items():
        person = directory.get(user_id)
        path = person.org_path if person is not None else None
        in_unit = sum(n for p, n in per_path.items() if path and p.startswith(path))
        stores_visited, visited_in_unit = visited.get(user_id, (0, 0))
        rows.append({"user_id": user_id,
                     "name": person.display_name if person is not None else f"#{user_id}",
                     **figures,
                     "progress": ratio(figures["completed"], figures["effective_target"]),
                     "stores_visited": stores_visited, "unit_stores": in_unit,
                     "coverage": ratio(visited_in_unit, in_unit)})
    rows.sort(key=lambda r: (r["name"], r["user_id"]))
    totals = {k: sum(r[k] for r in rows) for k in (*COUNTERS, "fraud_signals",
                                                    "stores_visited")}
    totals["effective_target"] = sum(r["effective_target"] or 0 for r in rows)
    totals["progress"] = ratio(totals["completed"], totals["effective_target"])
    return {"report": "visits", "month": month, "rows": rows, "totals": totals}
