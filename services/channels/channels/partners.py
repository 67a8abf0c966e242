"""Channel partners: create, read, change (tier, owner and credit changes kept as history)."""
from sqlalchemy import func, select

from channels import domain
from channels.access import (
    check_new_owner,
    list_page,
    require_maintainer,
    require_role,
    visible,
)
from channels.models import Partner, PartnerChange
from channels.schemas import PartnerChangeSchema, PartnerSchema
from crmkit.database import UnitOfWork
from crmkit.directory import UserDirectory
from crmkit.errors import Conflict
from crmkit.field_rules import HIDDEN, MASKED, check_writable, mask, rule_for
from crmkit.hierarchy import check_parent
from crmkit.pagination import page

partner_schema = PartnerSchema()
change_schema = PartnerChangeSchema()


def dump(unit: UnitOfWork, rules: dict, partner: Partner) -> dict:
    return mask(rules, unit.caller, "partner", partner_schema.dump(partner))


def _check_code_free(unit: UnitOfWork, code: str) -> None:
    taken = unit.session.execute(
        select(Partner.id).where(func.lower(Partner.code) == code.lower())).first()
    if taken:
        raise Conflict("A partner with this code exists", {"code": ["already taken"]},
                       code="duplicate_code")


def _check_parent(unit: UnitOfWork, partner_id: int | None, parent_id: int) -> None:
    check_parent(unit, Partner, partner_id,
                 visible(unit, Partner, parent_id, "partner", field="parent_id"), "partner")


def _record_change(unit: UnitOfWork, partner_id: int, field: str, old, new,
                   note: str | None = None) -> None:
    unit.session.add(PartnerChange(
        partner_id=partner_id, field=field, old_value=None if old is None else str(old),
        new_value=None if new is None else str(new), changed_by=unit.caller.user_id,
        note=note))


def create_partner(unit: UnitOfWork, people: UserDirectory, rules: dict, data: dict) -> dict:
    require_role(unit, domain.MAINTAINERS, "create partners")
    check_writable(rules, unit.caller, "partner",
                   {k: v for k, v in data.items() if k == "credit_limit"})
    owner_id = data.get("owner_id", unit.caller.user_id)
    check_new_owner(unit, people, owner_id)
    _check_code_free(unit, data["code"])
    if data.get("parent_id"):
        _check_parent(unit, None, data["parent_id"])
    partner = Partner(**{k: v for k, v in data.items() if k != "owner_id"}, owner_id=owner_id)
    unit.session.add(partner)
    unit.session.flush()
    unit.session.refresh(partner)
    for field in domain.TRACKED_PARTNER_FIELDS:
        if getattr(partner, field) is not None:
            _record_change(unit, partner.id, field, None, getattr(partner, field), "created")
    dumped = partner_schema.dump(partner)
    unit.audit("create", "partner", partner.id, None, dumped)
    unit.emit("partner_created", {"partner": dumped})
    return dump(unit, rules, partner)


def get_partner(unit: UnitOfWork, rules: dict, partner_id: int) -> dict:
    return dump(unit, rules, visible(unit, Partner, partner_id, "partner"))


def list_partners(unit: UnitOfWork, rules: dict, query: dict) -> dict:
    return list_page(unit, Partner, query, ("kind", "tier", "owner_id", "parent_id"),
                     (Partner.name, Partner.code), lambda p: dump(unit, rules, p))


def update_partner(unit: UnitOfWork, people: UserDirectory, rules: dict, partner_id: int,
                   data: dict) -> dict:
    partner = visible(unit, Partner, partner_id, "partner", lock=True)
    require_maintainer(unit, partner.owner_id, "partner")
    note = data.pop("note", None)
    changed = {k: v for k, v in data.items() if getattr(partner, k) != v}
    check_writable(rules, unit.caller, "partner", changed)
    if "owner_id" in changed:
        check_new_owner(unit, people, changed["owner_id"])
    if changed.get("parent_id"):
        _check_parent(unit, partner.id, changed["parent_id"])
    before = partner_schema.dump(partner)
    for field in domain.TRACKED_PARTNER_FIELDS:
        if field in changed:
            _record_change(unit, partner.id, field, getattr(partner, field), changed[field],
                           note)
    for name, value in changed.items():
        setattr(partner, name, value)
    unit.session.flush()
    unit.session.refresh(partner)
    after = partner_schema.dump(partner)
    if changed:
        unit.audit("update", "partner", partner.id, before, after, note=note)
        unit.emit("partner_updated", {"partner": after, "changed": sorted(changed)})
    return dump(unit, rules, partner)


def partner_history(unit: UnitOfWork, rules: dict, partner_id: int, query: dict) -> dict:
    visible(unit, Partner, partner_id, "partner")
    hidden = [f for f in domain.TRACKED_PARTNER_FIELDS
              if rule_for(rules, unit.caller, "partner", f) in (HIDDEN, MASKED)]
    stmt = select(PartnerChange).where(PartnerChange.partner_id == partner_id)
    if hidden:
        stmt = stmt.where(PartnerChange.field.not_in(hidden))
    if query["cursor"] is not None:
        stmt = stmt.where(PartnerChange.id < query["cursor"])
    rows = unit.session.execute(stmt.order_by(PartnerChange.id.desc())
                                .limit(query["limit"] + 1)).scalars().all()
    return page([change_schema.dump(r) for r in rows], query["limit"])
