"""Channel inspection forms (渠道点检单): one per partner and month, created by a region
manager with linked stores, filled with detail lines by the channel owner, then
draft -> submitted -> reviewed. Every step is published for reporting and notifications."""
from sqlalchemy import func, select

from channels import domain
from channels.access import check_assignee, invalid, require_role, scoped, visible
from channels.models import Inspection, InspectionLine, Partner, Store
from channels.schemas import InspectionDetailSchema, InspectionLineSchema, InspectionSchema
from crmkit.database import UnitOfWork, utcnow
from crmkit.directory import UserDirectory
from crmkit.errors import Conflict, Forbidden
from crmkit.pagination import page, paginate

inspection_schema = InspectionSchema()
detail_schema = InspectionDetailSchema()
line_schema = InspectionLineSchema()
MAX_LINES = 5000


def _dump(form: Inspection, partner_name: str, schema=inspection_schema, **extra) -> dict:
    data = {c: getattr(form, c) for c in Inspection.__table__.columns.keys()}
    return schema.dump(dict(data, partner_name=partner_name, **extra))


def _partner_name(unit: UnitOfWork, partner_id: int) -> str:
    return unit.session.execute(
        select(Partner.name).where(Partner.id == partner_id)).scalar_one()


def _event_data(form: Inspection, partner: Partner) -> dict:
    """What reporting needs to place the form without asking channels."""
    return {"inspection_id": form.id, "partner_id": partner.id, "partner_name": partner.name,
            "partner_kind": partner.kind, "partner_owner_id": partner.owner_id,
            "month": form.month, "owner_id": form.owner_id, "status": form.status}


def _check_stores(unit: UnitOfWork, partner_id: int, store_ids: list[int]) -> None:
    if not store_ids:
        return
    found = set(unit.session.execute(scoped(
        select(Store.id).where(Store.id.in_(store_ids), Store.partner_id == partner_id),
        Store, unit)).scalars())
    wrong = [i for i in store_ids if i not in found]
    if wrong:
        raise invalid("store_ids", f"not stores of this partner in your scope: {wrong[:20]}")


def _fillable(unit: UnitOfWork, inspection_id: int) -> Inspection:
    form = visible(unit, Inspection, inspection_id, "inspection form", lock=True)
    if not domain.may_fill_form(unit.caller, form.owner_id, form.created_by):
        raise Forbidden("You may not change this inspection form")
    if form.status != "draft":
        raise Conflict(f"The form is {form.status}; only a draft form takes changes",
                       {"status": [form.status]}, code="illegal_transition")
    return form


def create_inspection(unit: UnitOfWork, people: UserDirectory, data: dict) -> dict:
    require_role(unit, domain.FORM_CREATORS, "create inspection forms")
    partner = visible(unit, Partner, data["partner_id"], "partner", field="partner_id")
    owner_id = data.get("owner_id", partner.owner_id)
    check_assignee(unit, people, owner_id)
    exists = unit.session.execute(select(Inspection.id).where(
        Inspection.partner_id == partner.id, Inspection.month == data["month"])).scalar()
    if exists:
        raise Conflict("This partner already has a form for the month",
                       {"month": [f"form {exists} exists"]}, code="duplicate_inspection")
    _check_stores(unit, partner.id, data.get("store_ids", []))
    form = Inspection(**dict(data, owner_id=owner_id), created_by=unit.caller.user_id)
    unit.session.add(form)
    unit.session.flush()
    unit.session.refresh(form)
    dumped = _dump(form, partner.name)
    unit.audit("create", "inspection", form.id, None, dumped)
    unit.emit("inspection_created", dict(_event_data(form, partner),
                                         created_by=form.created_by,
                                         store_ids=form.store_ids))
    return dumped


def get_inspection(unit: UnitOfWork, inspection_id: int) -> dict:
    form = visible(unit, Inspection, inspection_id, "inspection form")
    lines = unit.session.execute(select(InspectionLine).where(
        InspectionLine.inspection_id == form.id).order_by(InspectionLine.id)).scalars().all()
    return _dump(form, _partner_name(unit, form.partner_id), detail_schema,
                 lines=lines)


def list_inspections(unit: UnitOfWork, query: dict) -> dict:
    stmt = scoped(select(Inspection, Partner.name.label("partner_name"))
                  .join(Partner, Partner.id == Inspection.partner_id), Inspection, unit)
    for name in ("partner_id", "owner_id", "status", "month"):
        if name in query:
            stmt = stmt.where(getattr(Inspection, name) == query[name])
    if "partner_name" in query:
        stmt = stmt.where(Partner.name.ilike(f"%{query['partner_name']}%"))
    if "updated_from" in query:
        stmt = stmt.where(Inspection.updated_at >= query["updated_from"])
    if "updated_to" in query:
        stmt = stmt.where(Inspection.updated_at < query["updated_to"])
    rows = unit.session.execute(paginate(stmt, Inspection.id, query["limit"],
                                         query["cursor"])).all()
    return page([_dump(r.Inspection, r.partner_name) for r in rows], query["limit"])


def update_inspection(unit: UnitOfWork, people: UserDirectory, inspection_id: int,
                      data: dict) -> dict:
    form = _fillable(unit, inspection_id)
    owner_changed = "owner_id" in data and data["owner_id"] != form.owner_id
    if owner_changed:
        check_assignee(unit, people, data["owner_id"])
    if "store_ids" in data:
        _check_stores(unit, form.partner_id, data["store_ids"])
        used = set(unit.session.execute(select(InspectionLine.store_id).where(
            InspectionLine.inspection_id == form.id)).scalars())
        if used - set(data["store_ids"]):
            raise invalid("store_ids", "stores with lines cannot be unlinked: "
                          f"{sorted(used - set(data['store_ids']))[:20]}")
    partner_name = _partner_name(unit, form.partner_id)
    before = _dump(form, partner_name)
    for name, value in data.items():
        setattr(form, name, value)
    form.updated_at = utcnow()
    unit.session.flush()
    after = _dump(form, partner_name)
    unit.audit("update", "inspection", form.id, before, after)
    if owner_changed:  # whoever must fill the form changed: notifications' copy follows
        unit.emit("inspection_updated", _event_data(form, unit.session.get(Partner,
                                                                           form.partner_id)))
    return after


def add_line(unit: UnitOfWork, inspection_id: int, data: dict) -> dict:
    form = _fillable(unit, inspection_id)
    if data["store_id"] not in form.store_ids:
        raise invalid("store_id", "the store is not linked to this form")
    if form.line_count >= MAX_LINES:
        raise Conflict(f"A form holds at most {MAX_LINES} lines", code="too_many_lines")
    line = InspectionLine(inspection_id=form.id, created_by=unit.caller.user_id, **data)
    unit.session.add(line)
    form.line_count += 1
    form.total_quantity += data["quantity"]
    form.total_amount += data["amount"]
    form.updated_at = utcnow()
    unit.session.flush()
    unit.session.refresh(line)
    dumped = line_schema.dump(line)
    unit.audit("add_line", "inspection", form.id, None, dumped)
    partner = unit.session.get(Partner, form.partner_id)
    unit.emit("inspection_line_added", dict(_event_data(form, partner), line=dumped))
    return dumped


def submit_inspection(unit: UnitOfWork, inspection_id: int) -> dict:
    form = visible(unit, Inspection, inspection_id, "inspection form", lock=True)
    if not domain.may_fill_form(unit.caller, form.owner_id, form.created_by):
        raise Forbidden("You may not submit this inspection form")
    return _transition(unit, form, "submit", submitted_by=unit.caller.user_id)


def review_inspection(unit: UnitOfWork, people: UserDirectory, inspection_id: int,
                      data: dict) -> dict:
    form = visible(unit, Inspection, inspection_id, "inspection form", lock=True)
    problem = domain.transition_problem("review", form.status)
    if problem is None:
        reviewer = people.get(unit.caller.user_id)
        submitter = people.get(form.submitted_by)
        if reviewer is None or submitter is None:
            raise Forbidden("The reviewer or the submitter is unknown")
        problem = domain.review_problem(unit.caller, reviewer, submitter,
                                        people.managers_of(submitter))
        if problem:
            raise Forbidden(problem)
    return _transition(unit, form, "review", reviewed_by=unit.caller.user_id,
                       review_comment=data.get("comment"))


def _transition(unit: UnitOfWork, form: Inspection, action: str, **changes) -> dict:
    problem = domain.transition_problem(action, form.status)
    if problem:
        raise Conflict(problem, {"status": [form.status]}, code="illegal_transition")
    now = utcnow()
    before_status = form.status
    form.status = domain.TRANSITIONS[action][1]
    for name, value in changes.items():
        setattr(form, name, value)
    setattr(form, "submitted_at" if action == "submit" else "reviewed_at", now)
    form.updated_at = now
    unit.session.flush()
    partner = unit.session.get(Partner, form.partner_id)
    dumped = _dump(form, partner.name)
    unit.audit(action, "inspection", form.id, {"status": before_status},
               {"status": form.status})
    event = "inspection_submitted" if action == "submit" else "inspection_reviewed"
    totals = unit.session.execute(
        select(InspectionLine.product_type, func.sum(InspectionLine.quantity),
               func.sum(InspectionLine.amount))
        .where(InspectionLine.inspection_id == form.id)
        .group_by(InspectionLine.product_type)).all()
    unit.emit(event, dict(_event_data(form, partner), by=unit.caller.user_id,
                          at=now.isoformat(), line_count=form.line_count,
                          totals=[{"product_type": t, "quantity": int(q),
                                   "amount": f"{a:.2f}"} for t, q, a in totals]))
    return dumped
