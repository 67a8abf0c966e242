"""Channels' events into the channel read models: partners, inspection forms (status and
owner) and the per-form, per-product-type line totals. Every apply is an upsert, so
events may arrive in any order; a form's status only moves forward and its owner only
changes to a newer fact."""
from decimal import Decimal

from sqlalchemy import case, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from reporting.models import ChannelLineTotal, InspectionForm, PartnerCopy
from reporting.periods import parse_time

# draft -> submitted -> reviewed; a late "draft" event never takes a form back.
STATUS_RANK = {"draft": 0, "submitted": 1, "reviewed": 2}


def _rank(column):
    return case({status: rank for status, rank in STATUS_RANK.items()}, value=column,
                else_=-1)


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
    at = parse_time(event["occurred_at"])
    stmt = pg_insert(InspectionForm).values(
        inspection_id=data["inspection_id"], partner_id=data["partner_id"],
        partner_name=data.get("partner_name") or "", month=data["month"],
        owner_id=data["owner_id"], status=data["status"], owner_as_of=at)
    newer = InspectionForm.owner_as_of <= stmt.excluded.owner_as_of
    stmt = stmt.on_conflict_do_update(
        index_elements=[InspectionForm.inspection_id],
        set_={"status": case((_rank(stmt.excluded.status) > _rank(InspectionForm.status),
                              stmt.excluded.status), else_=InspectionForm.status),
              "owner_id": case((newer, stmt.excluded.owner_id), else_=InspectionForm.owner_id),
              "owner_as_of": case((newer, stmt.excluded.owner_as_of),
                                  else_=InspectionForm.owner_as_of),
              "partner_name": stmt.excluded.partner_name})
    owner_id = session.execute(stmt.returning(InspectionForm.owner_id)).scalar_one()
    # A new owner takes the form's totals along (its lines count for whoever fills it).
    session.execute(update(ChannelLineTotal).where(
        ChannelLineTotal.inspection_id == data["inspection_id"],
        ChannelLineTotal.owner_id != owner_id).values(owner_id=owner_id))
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
    stmt = pg_insert(ChannelLineTotal).values(
        inspection_id=data["inspection_id"], product_type=line["product_type"],
        month=data["month"], partner_id=data["partner_id"], owner_id=owner_id, line_count=1,
        quantity=int(line["quantity"]), amount=Decimal(str(line["amount"])))
    session.execute(stmt.on_conflict_do_update(
        index_elements=[ChannelLineTotal.inspection_id, ChannelLineTotal.product_type],
        set_={"line_count": ChannelLineTotal.line_count + 1,
              "quantity": ChannelLineTotal.quantity + stmt.excluded.quantity,
              "amount": ChannelLineTotal.amount + stmt.excluded.amount}))
