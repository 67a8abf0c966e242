"""Store and channel action plans: one per subject (store or partner) and period, with
entries (decisions, to-dos, progress, verification steps) and collaborators. Collaborators
see the plan they work on; adding one is published as `collaborator_added`."""
from sqlalchemy import or_, select

from channels import domain
from channels.access import check_assignee, invalid, require_role, visible
from channels.models import ActionPlan, ActionPlanEntry, Partner, Store
from channels.schemas import ActionPlanDetailSchema, ActionPlanEntrySchema, ActionPlanSchema
from crmkit.database import UnitOfWork, utcnow
from crmkit.directory import UserDirectory, owned_within, sees_person
from crmkit.errors import Conflict, Forbidden, NotFound
from crmkit.pagination import page, paginate

plan_schema = ActionPlanSchema()
detail_schema = ActionPlanDetailSchema()
entry_schema = ActionPlanEntrySchema()
HISTORY_PERIODS = 3
MAX_COLLABORATORS = 50


def _visible_condition(unit: UnitOfWork):
    """Plans of owners in the caller's subtree, and plans the caller collaborates on."""
    within = owned_within(ActionPlan.owner_id, unit.caller)
    if within is None:
        return None
    return or_(within, ActionPlan.collaborator_ids.any(unit.caller.user_id))


def _query():
    return select(ActionPlan, Store.code.label("store_code"), Store.name.label("store_name")) \
        .outerjoin(Store, Store.id == ActionPlan.store_id)


def _scoped(unit: UnitOfWork, stmt):
    condition = _visible_condition(unit)
    return stmt if condition is None else stmt.where(condition)


def _dump(row, schema=plan_schema, **extra) -> dict:
    plan = row.ActionPlan
    data = {c: getattr(plan, c) for c in ActionPlan.__table__.columns.keys()}
    return schema.dump(dict(data, store_code=row.store_code, store_name=row.store_name,
                            **extra))


def _visible_plan(unit: UnitOfWork, plan_id: int, lock: bool = False):
    stmt = _scoped(unit, _query().where(ActionPlan.id == plan_id))
    if lock:
        stmt = stmt.with_for_update(of=ActionPlan)
    row = unit.session.execute(stmt).first()
    if row is None:
        raise NotFound("No such action plan")
    return row


def _entries(unit: UnitOfWork, plan_ids: list[int]) -> dict[int, list[ActionPlanEntry]]:
    by_plan: dict[int, list[ActionPlanEntry]] = {i: [] for i in plan_ids}
    rows = unit.session.execute(select(ActionPlanEntry).where(
        ActionPlanEntry.plan_id.in_(plan_ids)).order_by(ActionPlanEntry.id)).scalars()
    for entry in rows:
        by_plan[entry.plan_id].append(entry)
    return by_plan


def _check_collaborators(unit: UnitOfWork, people: UserDirectory, user_ids, owner) -> None:
    """A collaborator is an active user the caller or the plan's owner can see (someone in
    their subtree): nobody pulls in people from a sibling region."""
    found = people.get_many(user_ids)
    for user_id in user_ids:
        person = found.get(user_id)
        if person is None or not person.active or not (
                sees_person(unit.caller, person) or person.org_path.startswith(owner.org_path)):
            raise invalid("user_id" if len(user_ids) == 1 else "collaborator_ids",
                          f"no such active user in scope: {user_id}")


def create_plan(unit: UnitOfWork, people: UserDirectory, data: dict) -> dict:
    require_role(unit, domain.PLAN_CREATORS, "create action plans")
    owner_id = data.pop("owner_id", unit.caller.user_id)
    owner = check_assignee(unit, people, owner_id)
    if data["template"] == "store":
        store = visible(unit, Store, data["store_id"], "store", field="store_id")
        data.setdefault("region", store.region)
        data.setdefault("brand_center", store.brand_center)
    else:
        visible(unit, Partner, data["partner_id"], "partner", field="partner_id")
    collaborators = data.pop("collaborator_ids", [])
    _check_collaborators(unit, people, collaborators, owner)
    taken = unit.session.execute(select(ActionPlan.id).where(
        ActionPlan.template == data["template"],
        ActionPlan.store_id == data.get("store_id") if data["template"] == "store"
        else ActionPlan.partner_id == data.get("partner_id"),
        ActionPlan.period == data["period"])).scalar()
    if taken:
        raise Conflict("A plan for this subject and period exists",
                       {"period": [f"plan {taken} exists"]}, code="duplicate_plan")
    plan = ActionPlan(**data, owner_id=owner_id, collaborator_ids=collaborators)
    unit.session.add(plan)
    unit.session.flush()
    dumped = _dump(_visible_plan(unit, plan.id))
    unit.audit("create", "action_plan", plan.id, None, dumped)
    unit.emit("action_plan_created", {"plan": dumped})
    for user_id in collaborators:
        _emit_collaborator_added(unit, people, plan, owner, user_id)
    return dumped


def get_plan(unit: UnitOfWork, plan_id: int) -> dict:
    row = _visible_plan(unit, plan_id)
    return _dump(row, detail_schema, entries=_entries(unit, [plan_id])[plan_id])


def list_plans(unit: UnitOfWork, query: dict) -> dict:
    stmt = _scoped(unit, _query())
    for name in ("template", "store_id", "partner_id", "owner_id", "period"):
        if name in query:
            stmt = stmt.where(getattr(ActionPlan, name) == query[name])
    rows = unit.session.execute(paginate(stmt, ActionPlan.id, query["limit"],
                                         query["cursor"])).all()
    return page([_dump(r) for r in rows], query["limit"])


def _may_work_on(unit: UnitOfWork, plan: ActionPlan) -> bool:
    return unit.caller.user_id == plan.owner_id or \
        unit.caller.user_id in plan.collaborator_ids or domain.is_manager(unit.caller)


def add_entry(unit: UnitOfWork, plan_id: int, data: dict) -> dict:
    plan = _visible_plan(unit, plan_id, lock=True).ActionPlan
    if not _may_work_on(unit, plan):
        raise Forbidden("Only the owner, collaborators and managers add entries")
    entry = ActionPlanEntry(plan_id=plan.id, created_by=unit.caller.user_id, **data)
    unit.session.add(entry)
    plan.updated_at = utcnow()
    unit.session.flush()
    unit.session.refresh(entry)
    dumped = entry_schema.dump(entry)
    unit.audit("add_entry", "action_plan", plan.id, None, dumped)
    unit.emit("action_plan_entry_added", {"plan_id": plan.id, "owner_id": plan.owner_id,
                                          "entry": dumped})
    return dumped


def add_collaborator(unit: UnitOfWork, people: UserDirectory, plan_id: int,
                     data: dict) -> dict:
    row = _visible_plan(unit, plan_id, lock=True)
    plan = row.ActionPlan
    if unit.caller.user_id != plan.owner_id and not _owner_in_subtree(unit, people, plan):
        raise Forbidden("Only the plan's owner or a manager above them adds collaborators")
    user_id = data["user_id"]
    if user_id == plan.owner_id:
        raise invalid("user_id", "the owner is not a collaborator")
    owner = people.get(plan.owner_id)
    _check_collaborators(unit, people, [user_id], owner)
    if user_id in plan.collaborator_ids:
        return _dump(row)  # already there: nothing new to announce
    if len(plan.collaborator_ids) >= MAX_COLLABORATORS:
        raise Conflict(f"A plan has at most {MAX_COLLABORATORS} collaborators",
                       code="too_many_collaborators")
    before = list(plan.collaborator_ids)
    plan.collaborator_ids = [*before, user_id]
    unit.session.flush()
    unit.audit("add_collaborator", "action_plan", plan.id, {"collaborator_ids": before},
               {"collaborator_ids": plan.collaborator_ids})
    _emit_collaborator_added(unit, people, plan, owner, user_id)
    return _dump(_visible_plan(unit, plan.id))


def _owner_in_subtree(unit: UnitOfWork, people: UserDirectory, plan: ActionPlan) -> bool:
    owner = people.get(plan.owner_id)
    return domain.is_manager(unit.caller) and owner is not None and \
        sees_person(unit.caller, owner)


def _emit_collaborator_added(unit: UnitOfWork, people: UserDirectory, plan: ActionPlan,
                             owner, user_id: int) -> None:
    # Notifications tells the collaborator and the owner's manager.
    unit.emit("collaborator_added", {
        "plan_id": plan.id, "template": plan.template, "title": plan.title,
        "period": plan.period, "collaborator_id": user_id, "owner_id": plan.owner_id,
        "owner_manager_id": owner.manager_id if owner else None,
        "added_by": unit.caller.user_id})


def plan_history(unit: UnitOfWork, plan_id: int) -> dict:
    """The same subject's plans of the previous three periods, newest first."""
    plan = _visible_plan(unit, plan_id).ActionPlan
    subject = ActionPlan.store_id == plan.store_id if plan.template == "store" \
        else ActionPlan.partner_id == plan.partner_id
    rows = unit.session.execute(_scoped(unit, _query().where(
        ActionPlan.template == plan.template, subject, ActionPlan.period < plan.period))
        .order_by(ActionPlan.period.desc()).limit(HISTORY_PERIODS)).all()
    entries = _entries(unit, [r.ActionPlan.id for r in rows])
    return {"items": [_dump(r, detail_schema, entries=entries[r.ActionPlan.id])
                      for r in rows], "next_cursor": None}
