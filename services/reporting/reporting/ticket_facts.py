"""service_tickets' events into the after-sales read models: one fact row per ticket
(status, fault code, model, repair time, SLA breach, survey score), parts fitted per
month, and parts orders by status. A ticket's state is taken from the newest ticket dump
(its `updated_at`), so a late event never rolls a ticket back."""
from sqlalchemy import case, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from reporting.models import PartsOrderFact, PartsUsedTotal, TicketFact
from reporting.periods import month_of, parse_time

# Fields of a ticket dump that follow the ticket (the newest dump wins).
_FOLLOWED = ("region", "partner_id", "status", "priority", "fault_code")


def _upsert_ticket(session: Session, ticket: dict, **extra) -> None:
    as_of = parse_time(ticket["updated_at"])
    values = {"ticket_id": ticket["id"], "month": month_of(ticket["created_at"]),
              "opened_at": parse_time(ticket["created_at"]), "as_of": as_of,
              **{k: ticket.get(k) for k in _FOLLOWED}, **extra}
    stmt = pg_insert(TicketFact).values(**values)
    newer = func.coalesce(TicketFact.as_of <= stmt.excluded.as_of, True)
    set_ = {k: case((newer, stmt.excluded[k]), else_=getattr(TicketFact, k))
            for k in (*_FOLLOWED, "as_of")}
    set_["month"] = stmt.excluded.month
    set_["opened_at"] = stmt.excluded.opened_at
    for key in extra:
        set_[key] = func.coalesce(stmt.excluded[key], getattr(TicketFact, key))
    if ticket.get("status") == "done":
        # The newest completion is the repair time (a reopened repair ends again later).
        set_["repaired_at"] = case((newer, stmt.excluded.repaired_at),
                                   else_=TicketFact.repaired_at)
    session.execute(stmt.on_conflict_do_update(index_elements=[TicketFact.ticket_id],
                                               set_=set_))


def apply_opened(session: Session, event: dict) -> None:
    """`ticket_opened` `{ticket, model, product_line}`."""
    _upsert_ticket(session, event["data"]["ticket"], model=event["data"].get("model"))


def apply_status_changed(session: Session, event: dict) -> None:
    """`ticket_status_changed` `{ticket, from, to}`."""
    ticket = event["data"]["ticket"]
    extra = {"repaired_at": parse_time(ticket["updated_at"])} \
        if event["data"]["to"] == "done" else {}
    _upsert_ticket(session, ticket, **extra)


def apply_sla_breached(session: Session, event: dict) -> None:
    data = event["data"]
    stmt = pg_insert(TicketFact).values(ticket_id=data["ticket_id"], sla_breached=True,
                                        region=data.get("region"),
                                        partner_id=data.get("partner_id"))
    session.execute(stmt.on_conflict_do_update(index_elements=[TicketFact.ticket_id],
                                               set_={"sla_breached": True}))


def apply_survey(session: Session, event: dict) -> None:
    """`survey_answered` `{survey, ticket_id, partner_id, region}`."""
    data = event["data"]
    stmt = pg_insert(TicketFact).values(ticket_id=data["ticket_id"],
                                        survey_score=data["survey"].get("score"),
                                        region=data.get("region"),
                                        partner_id=data.get("partner_id"))
    session.execute(stmt.on_conflict_do_update(
        index_elements=[TicketFact.ticket_id],
        set_={"survey_score": stmt.excluded.survey_score}))


def apply_parts_used(session: Session, event: dict) -> None:
    """`ticket_parts_used` `{ticket_id, partner_id, parts_used: [{part_id, qty}]}`."""
    data = event["data"]
    month = month_of(event["occurred_at"])
    for line in data["parts_used"]:
        stmt = pg_insert(PartsUsedTotal).values(
            month=month, partner_id=data.get("partner_id") or 0, part_id=line["part_id"],
            quantity=line["qty"])
        session.execute(stmt.on_conflict_do_update(
            index_elements=[PartsUsedTotal.month, PartsUsedTotal.partner_id,
                            PartsUsedTotal.part_id],
            set_={"quantity": PartsUsedTotal.quantity + stmt.excluded.quantity}))


def apply_parts_order(session: Session, event: dict) -> None:
    """`parts_order_status_changed` `{order, from, to}`."""
    order = event["data"]["order"]
    values = {"order_id": order["id"], "month": month_of(order["created_at"]),
              "partner_id": order["partner_id"], "status": order["status"],
              "as_of": parse_time(order["updated_at"])}
    stmt = pg_insert(PartsOrderFact).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[PartsOrderFact.order_id],
        set_={"status": stmt.excluded.status, "as_of": stmt.excluded.as_of},
        where=PartsOrderFact.as_of <= stmt.excluded.as_of))
