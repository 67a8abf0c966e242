"""Channels' events into the channel read models: partners, inspection forms (status and
owner) and the per-form, per-product-type line totals. Every apply is an upsert, so
events may arrive in any order; a form's status only moves forward and its owner only
changes to a newer fact.

The form and line upserts run for every inspection event (a day holds ~14,000 lines), so
they are written out as SQL once: SQLAlchemy never caches its PostgreSQL `INSERT ... ON
CONFLICT` (the dialect's Insert is not cacheable), and building and compiling them per
event cost more CPU than everything else a consumer does (bench/reports.py)."""
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from reporting.models import PartnerCopy
from reporting.periods import parse_time

# draft -> submitted -> reviewed; a late "draft" event never takes a form back. (The same
# order is spelled out in _UPSERT_FORM.)
STATUS_RANK = {"draft": 0, "submitted": 1, "reviewed": 2}

# The owner only changes to a newer fact (owner_as_of); SET reads the row as it was.
_UPSERT_FORM = text("""
    INSERT INTO inspection_forms AS f
        (inspection_id, partner_id, partner_name, month, owner_id, status, owner_as_of)
    VALUES (:inspection_id, :partner_id, :partner_name, :month, :owner_id, :status, :at)
    ON CONFLICT (inspection_id) DO UPDATE SET
        status = CASE WHEN (CASE excluded.status WHEN 'draft' THEN 0 WHEN 'submitted' THEN 1
                                                 WHEN 'reviewed' THEN 2 ELSE -1 END)
                         > (CASE f.status WHEN 'draft' THEN 0 WHEN 'submitted' THEN 1
                                          WHEN 'reviewed' THEN 2 ELSE -1 END)
                      THEN excluded.status ELSE f.status END,
        owner_id = CASE WHEN f.owner_as_of <= excluded.owner_as_of THEN excluded.owner_id
                        ELSE f.owner_id END,
        owner_as_of = CASE WHEN f.owner_as_of <= excluded.owner_as_of
                           THEN excluded.owner_as_of ELSE f.owner_as_of END,
        partner_name = excluded.partner_name
    RETURNING owner_id""")
# A new owner takes the form's totals along (its lines count for whoever fills it).
_MOVE_TOTALS = text("""
    UPDATE channel_line_totals SET owner_id = :owner_id
    WHERE inspection_id = :inspection_id AND owner_id <> :owner_id""")
_ADD_LINE = text("""
    INSERT INTO channel_line_totals AS t
        (inspection_id, product_type, month, partner_id, owner_id, line_count, quantity,
         amount)
    VALUES (:inspection_id, :product_type, :month, :partner_id, :owner_id, 1, :quantity,
            :amount)
    ON CONFLICT (inspection_id, product_type) DO UPDATE SET
        line_count = t.line_count + 1, quantity = t.quantity + excluded.quantity,
        amount = t.amount + excluded.amount""")


def apply_partner(session: Session, event: dict) -> None:
    """`partner_created` / `partner_updated`: `{partner, changed?}`."""
    partner = event["data"]["partner"]
    share = partner.get("channel_share")
    values = {"partner_id": partner["id"], "name": partner["name"],
              "kind": partner.get("kind"), "owner_id": partner.get("owner_id"),
              "channel_share": Decimal(str(share)) if share is not None else None,
              "as_of": parse_time(event["occurred_at"])}
    stmt = pg_insert(PartnerCopy).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[PartnerCopy.partner_id],
        set_={k: stmt.excluded[k] for k in values if k != "partner_id"},
        where=PartnerCopy.as_of <= stmt.excluded.as_of))


def _upsert_form(session: Session, event: dict) -> int:
    """The form fields every inspection event carries; returns the owner in force."""
    data = event["data"]
    owner_id = session.execute(_UPSERT_FORM, {
        "inspection_id": data["inspection_id"], "partner_id": data["partner_id"],
        "partner_name": data.get("partner_name") or "", "month": data["month"],
        "owner_id": data["owner_id"], "status": data["status"],
        "at": parse_time(event["occurred_at"])}).scalar_one()
    session.execute(_MOVE_TOTALS, {"inspection_id": data["inspection_id"],
                                   "owner_id": owner_id})
    return owner_id


def apply_form(session: Session, event: dict) -> None:
    """`inspection_created`, `inspection_updated`, `inspection_submitted`,
    `inspection_reviewed` (their `totals` are the same lines already counted one by
    one)."""
    _upsert_form(session, event)


def apply_line(session: Session, event: dict) -> None:
    """`inspection_line_added`: the form fields + `line`."""
    owner_id = _upsert_form(session, event)
    data, line = event["data"], event["data"]["line"]
    session.execute(_ADD_LINE, {
        "inspection_id": data["inspection_id"], "product_type": line["product_type"],
        "month": data["month"], "partner_id": data["partner_id"], "owner_id": owner_id,
        "quantity": int(line["quantity"]), "amount": Decimal(str(line["amount"]))})
