"""Visits' and channels' store events into the visit read models: monthly counters per
person, the distinct stores visited, targets, fraud signals by kind, and store owners
(what a unit should cover). Each event is applied once (the consumer claims it), so the
counters simply add."""
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from reporting.models import (
    FraudSignalTotal,
    StoreCopy,
    VisitedStore,
    VisitMonthTotal,
    VisitTargetCopy,
)
from reporting.periods import month_of, parse_time


def _count(session: Session, month: str, user_id: int, counter: str) -> None:
    stmt = pg_insert(VisitMonthTotal).values(month=month, user_id=user_id, **{counter: 1})
    session.execute(stmt.on_conflict_do_update(
        index_elements=[VisitMonthTotal.month, VisitMonthTotal.user_id],
        set_={counter: getattr(VisitMonthTotal, counter) + 1}))


def apply_planned(session: Session, event: dict) -> None:
    visit = event["data"]["visit"]
    _count(session, month_of(visit["planned_at"]), visit["user_id"], "planned")


def apply_checked_in(session: Session, event: dict) -> None:
    visit = event["data"]["visit"]
    _count(session, month_of(visit["planned_at"]), visit["user_id"], "checked_in")


def apply_completed(session: Session, event: dict) -> None:
    visit = event["data"]["visit"]
    month = month_of(visit["planned_at"])
    _count(session, month, visit["user_id"], "completed")
    if visit.get("store_id"):
        session.execute(pg_insert(VisitedStore).values(
            month=month, user_id=visit["user_id"], store_id=visit["store_id"])
            .on_conflict_do_nothing())


def apply_fraud_signal(session: Session, event: dict) -> None:
    """`fraud_signal_raised` names no month of its own: it counts when it was raised."""
    data = event["data"]
    stmt = pg_insert(FraudSignalTotal).values(
        month=month_of(event["occurred_at"]), user_id=data["user_id"], kind=data["kind"],
        signals=1)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[FraudSignalTotal.month, FraudSignalTotal.user_id,
                        FraudSignalTotal.kind],
        set_={"signals": FraudSignalTotal.signals + 1}))


def apply_target(session: Session, event: dict) -> None:
    """`visit_target_set`: the whole target; the latest `set_at` is in force."""
    data = event["data"]
    values = {"month": data["month"], "user_id": data["user_id"], "target": data["target"],
              "adjustment": data["adjustment"], "effective_target": data["effective_target"],
              "as_of": parse_time(data.get("set_at") or event["occurred_at"])}
    stmt = pg_insert(VisitTargetCopy).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[VisitTargetCopy.month, VisitTargetCopy.user_id],
        set_={k: stmt.excluded[k] for k in ("target", "adjustment", "effective_target",
                                            "as_of")},
        where=VisitTargetCopy.as_of <= stmt.excluded.as_of))


def _store(session: Session, store: dict, at) -> None:
    values = {"store_id": store["id"], "owner_id": store["owner_id"],
              "active": store.get("status", "active") == "active", "as_of": at}
    stmt = pg_insert(StoreCopy).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[StoreCopy.store_id],
        set_={k: stmt.excluded[k] for k in ("owner_id", "active", "as_of")},
        where=StoreCopy.as_of <= stmt.excluded.as_of))


def apply_store(session: Session, event: dict) -> None:
    """`store_created` / `store_updated` `{store}`; `stores_imported` `{stores}`."""
    at = parse_time(event["occurred_at"])
    data = event["data"]
    for store in data.get("stores") or [data["store"]]:
        _store(session, store, at)
