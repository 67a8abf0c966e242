"""Which event feeds which read model, and the archive every fed event is kept in: the
consumers and the rebuild go through `APPLIERS`, so a rebuild replays exactly what the
consumers did."""
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from reporting import channel_facts, ticket_facts, visit_facts
from reporting.periods import parse_time

# Written out once: every consumed event runs it (see channel_facts on why not pg_insert).
_ARCHIVE = text("""
    INSERT INTO event_archive (event_id, source, type, occurred_at, envelope)
    VALUES (:event_id, :source, :type, :occurred_at, :envelope)
    ON CONFLICT DO NOTHING""").bindparams(bindparam("envelope", type_=JSONB))

APPLIERS = {
    ("channels", "partner_created"): channel_facts.apply_partner,
    ("channels", "partner_updated"): channel_facts.apply_partner,
    ("channels", "inspection_created"): channel_facts.apply_form,
    ("channels", "inspection_updated"): channel_facts.apply_form,
    ("channels", "inspection_submitted"): channel_facts.apply_form,
    ("channels", "inspection_reviewed"): channel_facts.apply_form,
    ("channels", "inspection_line_added"): channel_facts.apply_line,
    ("channels", "store_created"): visit_facts.apply_store,
    ("channels", "store_updated"): visit_facts.apply_store,
    ("channels", "stores_imported"): visit_facts.apply_store,
    ("visits", "visit_planned"): visit_facts.apply_planned,
    ("visits", "visit_checked_in"): visit_facts.apply_checked_in,
    ("visits", "visit_completed"): visit_facts.apply_completed,
    ("visits", "fraud_signal_raised"): visit_facts.apply_fraud_signal,
    ("visits", "visit_target_set"): visit_facts.apply_target,
    ("service_tickets", "ticket_opened"): ticket_facts.apply_opened,
    ("service_tickets", "ticket_status_changed"): ticket_facts.apply_status_changed,
    ("service_tickets", "ticket_sla_breached"): ticket_facts.apply_sla_breached,
    ("service_tickets", "survey_answered"): ticket_facts.apply_survey,
    ("service_tickets", "ticket_parts_used"): ticket_facts.apply_parts_used,
    ("service_tickets", "parts_order_status_changed"): ticket_facts.apply_parts_order,
}


def archive(session: Session, source: str, event: dict) -> None:
    session.execute(_ARCHIVE, {"event_id": event["event_id"], "source": source,
                               "type": event["type"],
                               "occurred_at": parse_time(event["occurred_at"]),
                               "envelope": event})


def feed(session: Session, source: str, event: dict) -> None:
    """Archive the event and apply it, in the caller's transaction."""
    archive(session, source, event)
    APPLIERS[(source, event["type"])](session, event)
