"""Authorised service centres and the rules that send tickets to them: the first rule (by
priority) matching the ticket's region and product line names the candidate centres; the
ticket goes to the active candidate with the most room (open tickets against capacity)."""
from sqlalchemy import func, or_, select

from crmkit.database import UnitOfWork
from crmkit.errors import Conflict
from service_tickets import domain
from service_tickets.access import invalid, list_page, require, require_keeper
from service_tickets.models import DispatchRule, ServiceCenter, Ticket
from service_tickets.schemas import DispatchRuleSchema, ServiceCenterSchema

center_schema = ServiceCenterSchema()
rule_schema = DispatchRuleSchema()


def _open_counts(unit: UnitOfWork, center_ids) -> dict[int, int]:
    rows = unit.session.execute(
        select(Ticket.service_center_id, func.count())
        .where(Ticket.service_center_id.in_(list(center_ids)),
               Ticket.status.in_(domain.OPEN_STATUSES))
        .group_by(Ticket.service_center_id)).all()
    return dict(rows)


def create_center(unit: UnitOfWork, data: dict) -> dict:
    require_keeper(unit, "configure service centres")
    if unit.session.execute(select(ServiceCenter.id).where(
            ServiceCenter.partner_id == data["partner_id"])).first():
        raise Conflict("This partner is already a service centre",
                       {"partner_id": ["already a service centre"]}, code="duplicate")
    center = ServiceCenter(**data)
    unit.session.add(center)
    unit.session.flush()
    unit.session.refresh(center)
    dumped = center_schema.dump({**_as_dict(center), "open_tickets": 0})
    unit.audit("create", "service_center", center.id, None, dumped)
    return dumped


def _as_dict(center: ServiceCenter) -> dict:
    return {key: getattr(center, key) for key in center_schema.fields if hasattr(center, key)}


def list_centers(unit: UnitOfWork, query: dict) -> dict:
    require(unit, domain.is_desk(unit.caller), "see service centres")
    result = list_page(unit, select(ServiceCenter), ServiceCenter.id, query, _as_dict)
    counts = _open_counts(unit, [item["id"] for item in result["items"]])
    result["items"] = [center_schema.dump({**item, "open_tickets": counts.get(item["id"], 0)})
                       for item in result["items"]]
    return result


def create_rule(unit: UnitOfWork, data: dict) -> dict:
    require_keeper(unit, "configure dispatch rules")
    known = set(unit.session.execute(select(ServiceCenter.id).where(
        ServiceCenter.id.in_(data["service_center_ids"]))).scalars())
    unknown = [i for i, center_id in enumerate(data["service_center_ids"])
               if center_id not in known]
    if unknown:
        raise invalid(f"service_center_ids.{unknown[0]}", "no such service centre")
    rule = DispatchRule(**data)
    unit.session.add(rule)
    unit.session.flush()
    dumped = rule_schema.dump(rule)
    unit.audit("create", "dispatch_rule", rule.id, None, dumped)
    return dumped


def list_rules(unit: UnitOfWork, query: dict) -> dict:
    require(unit, domain.is_desk(unit.caller), "see dispatch rules")
    return list_page(unit, select(DispatchRule), DispatchRule.id, query, rule_schema.dump)


def choose_center(unit: UnitOfWork, region: str | None,
                  product_line: str | None) -> ServiceCenter | None:
    rules = unit.session.execute(
        select(DispatchRule)
        .where(or_(DispatchRule.region.is_(None), DispatchRule.region == region),
               or_(DispatchRule.product_line.is_(None),
                   DispatchRule.product_line == product_line))
        .order_by(DispatchRule.priority, DispatchRule.id)).scalars().all()
    candidates = sorted({c for rule in rules for c in rule.service_center_ids})
    if not candidates:
        return None
    # Every candidate locked at once, in id order: two intakes cannot both take a centre's
    # last place, and cannot wait on each other in a cycle.
    centers = {c.id: c for c in unit.session.execute(
        select(ServiceCenter).where(ServiceCenter.id.in_(candidates),
                                    ServiceCenter.active.is_(True))
        .order_by(ServiceCenter.id).with_for_update()).scalars()}
    counts = _open_counts(unit, list(centers))
    for rule in rules:
        room = [(counts.get(i, 0) / centers[i].capacity, i) for i in rule.service_center_ids
                if i in centers and counts.get(i, 0) < centers[i].capacity]
        if room:
            return centers[min(room)[1]]
    return None


def named_center(unit: UnitOfWork, center_id: int) -> ServiceCenter:
    center = unit.session.get(ServiceCenter, center_id)
    if center is None:
        raise invalid("service_center_id", "no such service centre")
    if not center.active:
        raise invalid("service_center_id", "the service centre is not active")
    return center


def center_of_partner(unit: UnitOfWork, partner_id: int) -> ServiceCenter | None:
    return unit.session.execute(select(ServiceCenter).where(
        ServiceCenter.partner_id == partner_id)).scalar_one_or_none()
