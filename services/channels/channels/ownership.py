"""Honouring accounts' `user_records_reassigned`: everything a leaving user owns in channels
moves to the new owner; partner history and the audit log keep the old owner."""
from sqlalchemy import select, update

from channels.models import ActionPlan, Inspection, Partner, PartnerChange, Store
from channels.schemas import StoreSchema
from crmkit.database import UnitOfWork

store_schema = StoreSchema()


def reassign_records(unit: UnitOfWork, from_user_id: int, to_user_id: int) -> dict:
    moved: dict[str, int] = {}
    partner_ids = unit.session.execute(
        update(Partner).where(Partner.owner_id == from_user_id).values(owner_id=to_user_id)
        .returning(Partner.id)).scalars().all()
    for partner_id in partner_ids:
        unit.session.add(PartnerChange(
            partner_id=partner_id, field="owner_id", old_value=str(from_user_id),
            new_value=str(to_user_id), changed_by=unit.caller.user_id, note="reassigned"))
    moved["partners"] = len(partner_ids)

    stores = unit.session.execute(
        select(Store).where(Store.owner_id == from_user_id).with_for_update()).scalars().all()
    for store in stores:
        store.owner_id = to_user_id
    unit.session.flush()
    for store in stores:
        unit.emit("store_updated", {"store": store_schema.dump(store), "changed": ["owner_id"]})
    moved["stores"] = len(stores)

    # Reviewed forms are history: they stay with whoever filled them.
    forms = unit.session.execute(
        update(Inspection).where(Inspection.owner_id == from_user_id,
                                 Inspection.status != "reviewed")
        .values(owner_id=to_user_id)
        .returning(Inspection.id, Inspection.partner_id, Inspection.month,
                   Inspection.status)).all()
    for form in forms:
        unit.emit("inspection_updated", {"inspection_id": form.id, "partner_id": form.partner_id,
                                         "partner_name": unit.session.get(
                                             Partner, form.partner_id).name,
                                         "month": form.month, "owner_id": to_user_id,
                                         "status": form.status})
    moved["inspections"] = len(forms)
    moved["action_plans"] = unit.session.execute(
        update(ActionPlan).where(ActionPlan.owner_id == from_user_id)
        .values(owner_id=to_user_id)).rowcount
    unit.audit("reassign", "user", from_user_id, None, dict(moved, to_user_id=to_user_id))
    return moved
