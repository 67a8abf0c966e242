"""Visit plans, check-in and check-out. Visits are personal: the visitor sees theirs,
managing roles their subtree's; plans go to oneself or one's direct reports only."""
from datetime import timedelta

from sqlalchemy import select, update

from crmkit.database import UnitOfWork, utcnow
from crmkit.directory import Person, UserDirectory, personal_within, sees_person
from crmkit.errors import Conflict, Forbidden, ValidationFailed
from crmkit.pagination import page, paginate
from crmkit.validation import load
from visits import customer_copies, domain, store_copies
from visits.details import details_schema
from visits.geo import distance_m
from visits.models import CustomerCopy, FraudSignal, StoreCopy, Visit, VisitType
from visits.schemas import VisitDetailSchema, VisitSchema
from visits.settings import VisitSettings

visit_schema = VisitSchema()
detail_schema = VisitDetailSchema()
# A phone's clock may run a little ahead; a check-in further in the future is refused.
MAX_CLOCK_AHEAD = timedelta(minutes=5)


def invalid(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(problem, {field: [problem]})


def _scoped(stmt, unit: UnitOfWork):
    condition = personal_within(Visit.user_id, unit.caller, domain.MANAGERS)
    return stmt.where(condition) if condition is not None else stmt


def visible_visit(unit: UnitOfWork, visit_id: int, lock: bool = False) -> Visit:
    return unit.one_or_missing(_scoped(select(Visit).where(Visit.id == visit_id), unit),
                               "visit", lock_of=Visit if lock else None)


def own_visit(unit: UnitOfWork, visit_id: int, lock: bool = True) -> Visit:
    """A visit the caller is the visitor of (check-in, photos, check-out)."""
    visit = visible_visit(unit, visit_id, lock)
    if visit.user_id != unit.caller.user_id:
        raise Forbidden("Only the visitor checks in, takes photos and checks out")
    return visit


def _transition(visit: Visit, action: str) -> None:
    problem = domain.transition_problem(action, visit.status)
    if problem:
        raise Conflict(problem, {"status": [visit.status]}, code="illegal_transition")
    visit.status = domain.TRANSITIONS[action][1]


def raise_signals(unit: UnitOfWork, visit: Visit, signals) -> list[str]:
    for kind, detail in signals:
        unit.session.add(FraudSignal(visit_id=visit.id, user_id=visit.user_id, kind=kind,
                                     detail=detail))
        # The manager sees it in the visit; notifications and reporting get the event.
        unit.emit("fraud_signal_raised", {"visit_id": visit.id, "user_id": visit.user_id,
                                          "store_id": visit.store_id, "kind": kind,
                                          "detail": detail})
    return [kind for kind, _ in signals]


def _not_visitable(what: str, field: str) -> Conflict:
    return Conflict(f"The {what} has no address or location (or is not active) and cannot "
                    "be visited", {field: ["not visitable"]}, code=f"{what}_not_visitable")


def _check_store(unit: UnitOfWork, people: UserDirectory, store_id: int) -> None:
    store = unit.session.get(StoreCopy, store_id)
    owner = people.get(store.owner_id) if store is not None else None
    # Stores belong to their owner's unit: visible to that unit and above.
    if owner is None or not sees_person(unit.caller, owner):
        raise invalid("store_id", "no such store")
    if not store_copies.visitable(store):
        raise _not_visitable("store", "store_id")


def _check_customer(unit: UnitOfWork, people: UserDirectory, customer_id: int,
                    visitor: Person) -> None:
    customer = unit.session.get(CustomerCopy, customer_id)
    owner = people.get(customer.owner_id) if customer is not None else None
    # Customers are personal: seeing the owner's unit is not enough, managing it is.
    manages_owner = owner is not None and bool(unit.caller.roles & domain.MANAGERS) \
        and sees_person(unit.caller, owner)
    if owner is None or not customer_copies.may_visit(customer, visitor, manages_owner):
        raise invalid("customer_id", "no such customer")
    if not customer_copies.visitable(customer):
        raise _not_visitable("customer", "customer_id")


def location_of(unit: UnitOfWork, visit: Visit) -> tuple[float, float]:
    """Where the visit's store or customer is (a check-in is measured against it)."""
    if visit.store_id is not None:
        place, field = unit.session.get(StoreCopy, visit.store_id), "store_id"
    else:
        place, field = unit.session.get(CustomerCopy, visit.customer_id), "customer_id"
    if place is None or place.lat is None or place.lon is None:
        raise Conflict("The place to visit has no location any more",
                       {field: ["no location"]}, code="not_visitable")
    return place.lat, place.lon


def create_visit(unit: UnitOfWork, people: UserDirectory, data: dict) -> dict:
    caller = unit.caller
    assignee = people.require(data.get("user_id", caller.user_id), "user_id")
    problem = domain.planning_problem(caller, assignee)
    if problem:
        raise Forbidden(problem, {"user_id": [problem]}, code="skip_level")
    if data.get("store_id"):
        _check_store(unit, people, data["store_id"])
    else:
        _check_customer(unit, people, data["customer_id"], assignee)
    if data.get("visit_type_id") and unit.session.get(VisitType, data["visit_type_id"]) is None:
        raise invalid("visit_type_id", "no such visit type")
    visit = Visit(user_id=assignee.user_id, store_id=data.get("store_id"),
                  customer_id=data.get("customer_id"), visit_type_id=data.get("visit_type_id"),
                  planned_at=data["planned_at"], created_by=caller.user_id)
    unit.session.add(visit)
    unit.session.flush()
    unit.session.refresh(visit)
    dumped = visit_schema.dump(visit)
    unit.audit("create", "visit", visit.id, None, dumped)
    unit.emit("visit_planned", {"visit": dumped, "assigned_by": caller.user_id})
    return dumped


def get_visit(unit: UnitOfWork, visit_id: int) -> dict:
    visit = visible_visit(unit, visit_id)
    signals = unit.session.execute(select(FraudSignal).where(
        FraudSignal.visit_id == visit.id).order_by(FraudSignal.id)).scalars().all()
    data = {c: getattr(visit, c) for c in Visit.__table__.columns.keys()}
    return detail_schema.dump(dict(data, fraud_signals=signals))


def list_visits(unit: UnitOfWork, query: dict) -> dict:
    stmt = _scoped(select(Visit), unit)
    for name in ("user_id", "store_id", "customer_id", "status"):
        if name in query:
            stmt = stmt.where(getattr(Visit, name) == query[name])
    if "planned_from" in query:
        stmt = stmt.where(Visit.planned_at >= query["planned_from"])
    if "planned_to" in query:
        stmt = stmt.where(Visit.planned_at < query["planned_to"])
    rows = unit.session.execute(paginate(stmt, Visit.id, query["limit"],
                                         query["cursor"])).scalars().all()
    return page([visit_schema.dump(r) for r in rows], query["limit"])


def check_in(unit: UnitOfWork, settings: VisitSettings, visit_id: int, data: dict) -> dict:
    visit = own_visit(unit, visit_id)
    if data["at"] > utcnow() + MAX_CLOCK_AHEAD:
        raise invalid("at", "is in the future")
    _transition(visit, "check_in")
    distance = distance_m(data["lat"], data["lon"], *location_of(unit, visit))
    previous = unit.session.execute(
        select(Visit.check_in_at, Visit.check_in_lat, Visit.check_in_lon, Visit.id)
        .where(Visit.user_id == visit.user_id, Visit.check_in_at.is_not(None),
               Visit.check_in_at <= data["at"], Visit.id != visit.id)
        .order_by(Visit.check_in_at.desc()).limit(1)).first()
    visit.check_in_at, visit.check_in_lat, visit.check_in_lon = data["at"], data["lat"], \
        data["lon"]
    visit.check_in_accuracy_m = data["accuracy_m"]
    visit.distance_m = round(distance, 1)
    visit.within_radius = distance <= settings.radius_m
    signals = raise_signals(unit, visit, domain.checkin_signals(
        within_radius=visit.within_radius, distance=distance, radius=settings.radius_m,
        at=data["at"], lat=data["lat"], lon=data["lon"],
        previous=tuple(previous) if previous else None,
        max_speed_kmh=settings.max_speed_kmh))
    unit.session.flush()
    unit.session.refresh(visit)
    dumped = visit_schema.dump(visit)
    unit.audit("check_in", "visit", visit.id, None, dict(dumped, signals=signals))
    unit.emit("visit_checked_in", {"visit": dumped, "signals": signals})
    return dict(dumped, signals=signals)


def check_out(unit: UnitOfWork, visit_id: int, data: dict) -> dict:
    visit = own_visit(unit, visit_id)
    _transition(visit, "check_out")
    definitions = []
    if visit.visit_type_id:
        definitions = unit.session.get(VisitType, visit.visit_type_id).fields
    schema = details_schema(definitions)
    try:
        details = schema.dump(load(schema, data.get("details") or {}))
    except ValidationFailed as exc:
        raise ValidationFailed("The details do not match the visit type",
                               {f"details.{k}": v for k, v in exc.fields.items()}) from None
    visit.details = details
    visit.feedback, visit.needs = data.get("feedback"), data.get("needs")
    visit.check_out_at = utcnow()
    unit.session.flush()
    unit.session.refresh(visit)
    dumped = visit_schema.dump(visit)
    unit.audit("check_out", "visit", visit.id, None, dumped)
    unit.emit("visit_completed", {"visit": dumped})
    return dumped


def reassign_planned(unit: UnitOfWork, from_user_id: int, to_user_id: int) -> int:
    """A leaving person's planned visits go to their successor; done visits stay theirs."""
    moved = unit.session.execute(
        update(Visit).where(Visit.user_id == from_user_id, Visit.status == "planned")
        .values(user_id=to_user_id).returning(Visit.id)).scalars().all()
    unit.audit("reassign", "user", from_user_id, None,
               {"to_user_id": to_user_id, "planned_visits": len(moved)})
    return len(moved)
