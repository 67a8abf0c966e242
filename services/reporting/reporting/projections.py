"""Which event feeds which read model, and the archive every fed event is kept in: the
consumers and the rebuild go through `APPLIERS`, so a rebuild replays exactly what the
consumers did. A batch of events of one type with a batch applier (`BATCH_APPLIERS`) is
applied at once, which leaves the same rows as applying its events one by one in the
order they are archived."""
import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from reporting import channel_facts, ticket_facts, visit_facts
from reporting.periods import parse_time

# Written out once: every consumed event runs it (see channel_facts on why not pg_insert).
# The events keep their order in the archive (`seq`), the order a rebuild replays.
_ARCHIVE = text("""
    INSERT INTO event_archive (event_id, source, type, occurred_at, envelope)
    SELECT e.event_id, :source, e.type, e.occurred_at, e.envelope
    FROM unnest(CAST(:event_ids AS uuid[]), CAST(:types AS text[]),
                CAST(:occurred AS timestamptz[]), CAST(CAST(:envelopes AS text[]) AS jsonb[]))
        WITH ORDINALITY AS e(event_id, type, occurred_at, envelope, position)
    ORDER BY e.position
    ON CONFLICT DO NOTHING""")

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


BATCH_APPLIERS = {
    ("channels", "inspection_line_added"): channel_facts.apply_lines,
}


def archive(session: Session, source: str, events: list[dict]) -> None:
    session.execute(_ARCHIVE, {
        "source": source, "event_ids": [e["event_id"] for e in events],
        "types": [e["type"] for e in events],
        "occurred": [parse_time(e["occurred_at"]) for e in events],
        # As received where the consumer kept the text (crmkit's ReceivedEvent).
        "envelopes": [getattr(e, "raw_json", None)
                      or json.dumps(e, ensure_ascii=False, default=str) for e in events]})


def feed(session: Session, source: str, event: dict) -> None:
    """Archive the event and apply it, in the caller's transaction."""
    feed_many(session, source, [event])


def feed_many(session: Session, source: str, events: list[dict]) -> None:
    """Archive the events in this order and apply them, in the caller's transaction."""
    if not events:
        return
    archive(session, source, events)
    kind = (source, events[0]["type"])
    batch = BATCH_APPLIERS.get(kind)
    if batch is not None and all(e["type"] == kind[1] for e in events):
        batch(session, events)
        return
    for event in events:
        APPLIERS[(source, event["type"])](session, event)
