"""Repair tickets: intake with a warranty check, dispatch, the status workflow with only
legal steps, the work log (parts fitted come off the centre's shelf), SLA breaches and the
satisfaction survey after closing."""
from sqlalchemy import select

from crmkit.database import UnitOfWork, utcnow
from crmkit.errors import Conflict, Forbidden, NotFound
from service_tickets import consumers, dispatch, domain, stock
from service_tickets.access import invalid, list_page, partner_scoped, require, visible
from service_tickets.models import (
    Consumer,
    Part,
    Product,
    Survey,
    Ticket,
    TicketChange,
    WorkLogEntry,
)
from service_tickets.schemas import (
    SurveySchema,
    TicketChangeSchema,
    TicketSchema,
    WorkLogEntrySchema,
)
from service_tickets.settings import ticket_settings

ticket_schema = TicketSchema()
change_schema = TicketChangeSchema()
worklog_schema = WorkLogEntrySchema()
survey_schema = SurveySchema()


def _require_tickets(unit: UnitOfWork) -> None:
    require(unit, domain.may_read_tickets(unit.caller), "see repair tickets")


def _visible_ticket(unit: UnitOfWork, ticket_id: int, lock: bool = False) -> Ticket:
    _require_tickets(unit)
    return visible(unit, Ticket, ticket_id, "ticket", lock=lock)


def _record(unit: UnitOfWork, ticket: Ticket, from_status: str | None, note: str | None):
    unit.session.add(TicketChange(ticket_id=ticket.id, from_status=from_status,
                                  to_status=ticket.status, note=note,
                                  actor_id=unit.caller.user_id))


def _dispatch_to(ticket: Ticket, center) -> None:
    ticket.service_center_id, ticket.partner_id = center.id, center.partner_id
    ticket.status = "assigned"


def _product_for(unit: UnitOfWork, consumer_id: int, product_id: int | None) -> Product | None:
    if product_id is None:
        return None
    product = unit.session.get(Product, product_id)
    if product is None or product.consumer_id != consumer_id:
        raise invalid("product_id", "not a product of this consumer")
    if product.status != "active":
        raise Conflict(f"The product is {product.status}", {"product_id": [
            f"product is {product.status}"]}, code="product_not_active")
    return product


def open_ticket(unit: UnitOfWork, data: dict) -> dict:
    caller = unit.caller
    require(unit, domain.is_desk(caller) or domain.is_partner(caller), "open repair tickets")
    consumer: Consumer = consumers.visible_consumer(unit, data["consumer_id"], "consumer_id")
    product = _product_for(unit, consumer.id, data.get("product_id"))
    now = utcnow()
    settings = ticket_settings()
    auto = data.pop("auto_dispatch")
    region = data.pop("region", None) or consumer.region
    due = domain.due_at(now, data["priority"], settings.sla_hours)
    ticket = Ticket(**data, region=region,
                    in_warranty=domain.in_warranty(product.warranty_until if product else None,
                                                   consumers.local_today(now)),
                    status="new", due_at=due,
                    sla_warn_at=domain.warn_at(now, due, settings.sla_warn_at),
                    opened_by=caller.user_id)
    unit.session.add(ticket)
    unit.session.flush()
    _record(unit, ticket, None, None)
    if domain.is_partner(caller):
        # A partner's own counter: the repair stays with it.
        center = dispatch.center_of_partner(unit, caller.partner_id)
        if center is None or not center.active:
            raise Forbidden("Your organisation is not an active service centre",
                            code="not_a_service_center")
        ticket.channel = "partner"
        _dispatch_to(ticket, center)
    elif auto:
        center = dispatch.choose_center(unit, ticket.region,
                                        product.product_line if product else None)
        if center is not None:
            _dispatch_to(ticket, center)
    if ticket.status == "assigned":
        _record(unit, ticket, "new", "dispatched on intake")
    unit.session.flush()
    unit.session.refresh(ticket)
    dumped = ticket_schema.dump(ticket)
    unit.audit("create", "ticket", ticket.id, None, dumped)
    # The device's model travels with the intake so reporting can rank fault codes by model.
    unit.emit("ticket_opened", {"ticket": dumped, "model": product.model if product else None,
                                "product_line": product.product_line if product else None})
    if ticket.status == "assigned":
        unit.emit("ticket_status_changed", {"ticket": dumped, "from": "new", "to": "assigned"})
    return dumped


def get_ticket(unit: UnitOfWork, ticket_id: int) -> dict:
    return ticket_schema.dump(_visible_ticket(unit, ticket_id))


def list_tickets(unit: UnitOfWork, query: dict) -> dict:
    _require_tickets(unit)
    consumers.require_phone_search(unit, query)
    stmt = partner_scoped(select(Ticket), Ticket, unit)
    for key in ("status", "consumer_id", "product_id", "service_center_id"):
        if key in query:
            stmt = stmt.where(getattr(Ticket, key) == query[key])
    if "imei" in query:
        stmt = stmt.where(Ticket.product_id.in_(
            select(Product.id).where(Product.imei == query["imei"])))
    if "phone" in query:
        stmt = stmt.where(Ticket.consumer_id.in_(select(Consumer.id).where(
            Consumer.phone == domain.normalise_phone(query["phone"]))))
    if "breached" in query:
        stmt = stmt.where(Ticket.sla_breached_at.isnot(None) if query["breached"]
                          else Ticket.sla_breached_at.is_(None))
    return list_page(unit, stmt, Ticket.id, query, ticket_schema.dump)


def _on_close(unit: UnitOfWork, ticket: Ticket, note: str | None) -> None:
    ticket.closed_at = utcnow()
    unit.session.add(Survey(ticket_id=ticket.id))
    if ticket.product_id and ticket.category == "repair":
        consumers.record_repair(unit, ticket.product_id, ticket.id, note)


def transition_ticket(unit: UnitOfWork, ticket_id: int, data: dict) -> dict:
    ticket = _visible_ticket(unit, ticket_id, lock=True)
    to, note = data["to"], data.get("note")
    if to not in domain.TICKET_FLOW[ticket.status]:
        raise Conflict(f"A {ticket.status} ticket cannot become {to}",
                       {"to": [f"not allowed from {ticket.status}"]},
                       code="illegal_transition")
    problem = domain.transition_problem(unit.caller, ticket.status, to, ticket.partner_id)
    if problem:
        raise Forbidden(problem)
    before = ticket_schema.dump(ticket)
    from_status = ticket.status
    if to == "assigned":
        center = (dispatch.named_center(unit, data["service_center_id"])
                  if data.get("service_center_id") else
                  dispatch.choose_center(unit, ticket.region, _product_line(unit, ticket)))
        if center is None:
            raise Conflict("No service centre matches the dispatch rules or has room",
                           {"service_center_id": ["name a service centre"]},
                           code="no_service_center")
        _dispatch_to(ticket, center)
    ticket.status = to
    for key in ("fault_code", "fault_cause"):
        if data.get(key):
            setattr(ticket, key, data[key])
    if to == "closed":
        _on_close(unit, ticket, note)
    if to in ("closed", "cancelled") or (to == "assigned" and from_status == "assigned"
                                         and ticket.partner_id != before["partner_id"]):
        # Parts held for the ticket and not fitted go back to the shelf they are on.
        stock.release_ticket_holds(unit, ticket.id, f"ticket {to}"
                                   if to != "assigned" else "ticket sent elsewhere")
    _record(unit, ticket, from_status, note)
    unit.session.flush()
    unit.session.refresh(ticket)
    after = ticket_schema.dump(ticket)
    unit.audit("transition", "ticket", ticket.id, before, after, note=f"{from_status} -> {to}")
    unit.emit("ticket_status_changed", {"ticket": after, "from": from_status, "to": to})
    return after


def _product_line(unit: UnitOfWork, ticket: Ticket) -> str | None:
    if ticket.product_id is None:
        return None
    return unit.session.get(Product, ticket.product_id).product_line


def add_worklog(unit: UnitOfWork, ticket_id: int, data: dict) -> dict:
    ticket = _visible_ticket(unit, ticket_id, lock=True)
    caller = unit.caller
    if not (domain.is_desk(caller) or (domain.is_partner(caller)
                                       and ticket.partner_id == caller.partner_id)):
        raise Forbidden("Only the assigned service centre or the desk writes the work log")
    if ticket.status not in domain.WORKING_STATUSES:
        raise Conflict(f"A {ticket.status} ticket takes no work log",
                       {"status": [ticket.status]}, code="illegal_transition")
    lines = data["parts_used"]
    if lines:
        parts = set(unit.session.execute(select(Part.id).where(
            Part.id.in_([line["part_id"] for line in lines]))).scalars())
        for index, line in enumerate(lines):
            if line["part_id"] not in parts:
                raise invalid(f"parts_used.{index}.part_id", "no such part")
        shelf = stock.shelf_of(unit, ticket.partner_id)
        if shelf is None:
            raise Conflict("The service centre keeps no stock of parts",
                           {"parts_used": ["no stock at the service centre"]},
                           code="insufficient_stock")
        stock.consume_for_ticket(unit, shelf, ticket.id, lines)
    entry = WorkLogEntry(ticket_id=ticket.id, text=data["text"], parts_used=lines,
                         author_id=caller.user_id)
    unit.session.add(entry)
    ticket.updated_at = utcnow()
    unit.session.flush()
    dumped = worklog_schema.dump(entry)
    if lines:
        unit.emit("ticket_parts_used", {"ticket_id": ticket.id, "partner_id": ticket.partner_id,
                                        "parts_used": lines})
    return dumped


def list_worklog(unit: UnitOfWork, ticket_id: int, query: dict) -> dict:
    _visible_ticket(unit, ticket_id)
    return list_page(unit, select(WorkLogEntry).where(WorkLogEntry.ticket_id == ticket_id),
                     WorkLogEntry.id, query, worklog_schema.dump)


def ticket_history(unit: UnitOfWork, ticket_id: int, query: dict) -> dict:
    _visible_ticket(unit, ticket_id)
    return list_page(unit, select(TicketChange).where(TicketChange.ticket_id == ticket_id),
                     TicketChange.id, query, change_schema.dump)


# --- SLA ------------------------------------------------------------------------------------
SWEEP_BATCH = 500


def _sla_facts(ticket: Ticket) -> dict:
    return {"ticket_id": ticket.id, "status": ticket.status, "priority": ticket.priority,
            "due_at": ticket.due_at.isoformat(), "partner_id": ticket.partner_id,
            "service_center_id": ticket.service_center_id, "region": ticket.region}


def _claim_open(unit: UnitOfWork, flag, moment, now) -> list[Ticket]:
    """Open tickets whose `moment` has passed and `flag` is unset, locked for this replica
    (SKIP LOCKED: replicas share the work and never flag one twice)."""
    return unit.session.execute(
        select(Ticket).where(flag.is_(None), Ticket.status.in_(domain.OPEN_STATUSES),
                             moment < now)
        .order_by(moment).limit(SWEEP_BATCH).with_for_update(skip_locked=True)
    ).scalars().all()


def mark_breaches(unit: UnitOfWork) -> int:
    """Warn once when a ticket's due time nears, flag it once when it passes; each is
    published (`ticket_sla_warning`, `ticket_sla_breached`)."""
    now = utcnow()
    for ticket in _claim_open(unit, Ticket.sla_warned_at, Ticket.sla_warn_at, now):
        ticket.sla_warned_at = now
        if ticket.due_at > now:  # already overdue: the breach says it
            unit.emit("ticket_sla_warning", _sla_facts(ticket))
    overdue = _claim_open(unit, Ticket.sla_breached_at, Ticket.due_at, now)
    for ticket in overdue:
        ticket.sla_breached_at = now
        unit.emit("ticket_sla_breached", _sla_facts(ticket))
    return len(overdue)


# --- surveys --------------------------------------------------------------------------------
def _ticket_survey(unit: UnitOfWork, ticket_id: int) -> Survey:
    survey = unit.session.execute(select(Survey).where(
        Survey.ticket_id == ticket_id)).scalar_one_or_none()
    if survey is None:
        raise NotFound("The ticket has no survey (it is not closed)")
    return survey


def get_survey(unit: UnitOfWork, ticket_id: int) -> dict:
    _visible_ticket(unit, ticket_id)
    return survey_schema.dump(_ticket_survey(unit, ticket_id))


def answer_survey(unit: UnitOfWork, survey_id: int, data: dict) -> dict:
    """The call centre records the consumer's answer (once)."""
    require(unit, domain.is_desk(unit.caller), "record survey answers")
    survey = unit.one_or_missing(select(Survey).where(Survey.id == survey_id), "survey",
                                 lock_of=Survey)
    if survey.status != "pending":
        raise Conflict("The survey is already answered", code="already_answered")
    survey.status, survey.score, survey.comment = "answered", data["score"], data.get("comment")
    survey.answered_by, survey.answered_at = unit.caller.user_id, utcnow()
    unit.session.flush()
    dumped = survey_schema.dump(survey)
    ticket = unit.session.get(Ticket, survey.ticket_id)
    unit.emit("survey_answered", {"survey": dumped, "ticket_id": ticket.id,
                                  "partner_id": ticket.partner_id, "region": ticket.region})
    return dumped
