"""The monthly channel report: inspection lines (quantity and amount by product type),
form statuses and channel share, per partner, per channel owner, or per org unit one
level below the caller's own (`hq`: an HQ head sees its regions, a region manager its
branches). Reads the pre-aggregated line totals of one month, never the lines.

A company-wide report by partner has one cell per partner and product type (tens of
thousands): the queries run on the session's connection (plain rows, no ORM result
processing), counts come back as integers, and each cell is summed once per group and
once into the totals (bench/reports.py)."""
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import BigInteger, func, select
from sqlalchemy.orm import Session

from crmkit.context import Caller
from crmkit.directory import directory_users
from crmkit.scope import path_ids
from reporting import org_units
from reporting.access import channel_scope
from reporting.models import ChannelLineTotal, InspectionForm, PartnerCopy

GROUPS = ("partner", "owner", "hq")
STATUSES = ("draft", "submitted", "reviewed")


def money(value) -> str:
    return f"{Decimal(value or 0):.2f}"


def _unit_key(caller: Caller):
    """SQL: the id (text) of the unit one level below the caller's own on the owner's path;
    empty when the owner sits in the caller's unit itself."""
    depth = len(path_ids(caller.org_path or "/"))
    return func.split_part(directory_users.c.org_path, "/", depth + 2)


def _key_and_joins(stmt, table, group_by: str, caller: Caller):
    if group_by == "partner":
        return stmt, table.partner_id
    if group_by == "owner":
        return stmt, table.owner_id
    joined = stmt.outerjoin(directory_users, directory_users.c.user_id == table.owner_id)
    return joined, _unit_key(caller)


def _line_totals(session: Session, caller: Caller, month: str, group_by: str):
    t = ChannelLineTotal
    # sum(bigint) is numeric in SQL: counts come back as integers, amounts as Decimal.
    stmt = select(t.product_type, func.sum(t.line_count).cast(BigInteger),
                  func.sum(t.quantity).cast(BigInteger), func.sum(t.amount)).select_from(t)
    stmt, key = _key_and_joins(stmt, t, group_by, caller)
    stmt = channel_scope(stmt.add_columns(key.label("key")).where(t.month == month),
                         t.owner_id, caller)
    return session.connection().execute(stmt.group_by(key, t.product_type)).all()


def _forms(session: Session, caller: Caller, month: str, group_by: str):
    f = InspectionForm
    stmt = select(*(func.count().filter(f.status == s) for s in STATUSES),
                  func.avg(PartnerCopy.channel_share), func.count(PartnerCopy.channel_share),
                  func.max(f.partner_name)) \
        .select_from(f).outerjoin(PartnerCopy, PartnerCopy.partner_id == f.partner_id)
    stmt, key = _key_and_joins(stmt, f, group_by, caller)
    stmt = channel_scope(stmt.add_columns(key.label("key")).where(f.month == month),
                         f.owner_id, caller)
    return session.connection().execute(stmt.group_by(key)).all()


def _group_key(raw, group_by: str, caller: Caller):
    if group_by == "hq":
        return int(raw) if raw else caller.org_unit_id
    return raw


def _labels(session: Session, group_by: str, keys, forms: dict) -> dict:
    if group_by == "partner":
        return {k: forms.get(k, {}).get("partner_name") or f"#{k}" for k in keys}
    if group_by == "owner":
        names = dict(session.execute(select(directory_users.c.user_id,
                                            directory_users.c.display_name)
                                     .where(directory_users.c.user_id.in_(
                                         [k for k in keys if k is not None]))).all())
    else:
        names = org_units.names(session, keys)
    return {k: names.get(k) or (f"#{k}" if k is not None else "?") for k in keys}


def _empty_row(key) -> dict:
    return {"key": key, "line_count": 0, "quantity": 0, "amount": Decimal(0),
            "by_type": defaultdict(lambda: [0, 0, Decimal(0)]),
            "forms": dict.fromkeys(STATUSES, 0)}


def _dump_row(row: dict, types: list[str]) -> dict:
    by_type = row["by_type"]
    cells = [(t, by_type[t]) for t in types if t in by_type]
    return {"key": row["key"], "label": row.get("label"), "line_count": row["line_count"],
            "quantity": row["quantity"], "amount": money(row["amount"]),
            "by_product_type": [{"product_type": t, "line_count": lines, "quantity": quantity,
                                 "amount": f"{amount:.2f}"}
                                for t, (lines, quantity, amount) in cells],
            "forms": dict(row["forms"], total=sum(row["forms"].values())),
            "channel_share": row.get("channel_share")}


def build(session: Session, caller: Caller, month: str, group_by: str) -> dict:
    rows: dict = {}
    for product_type, lines, quantity, amount, raw in _line_totals(session, caller, month,
                                                                   group_by):
        key = _group_key(raw, group_by, caller)
        row = rows.get(key)
        if row is None:
            row = rows[key] = _empty_row(key)
        cell = row["by_type"][product_type]
        cell[0] += lines
        cell[1] += quantity
        cell[2] += amount
    # Each group's figures and the totals, from the cells.
    totals = _empty_row(None)
    total_by_type = totals["by_type"]
    for row in rows.values():
        for product_type, (lines, quantity, amount) in row["by_type"].items():
            row["line_count"] += lines
            row["quantity"] += quantity
            row["amount"] += amount
            cell = total_by_type[product_type]
            cell[0] += lines
            cell[1] += quantity
            cell[2] += amount
    for lines, quantity, amount in total_by_type.values():
        totals["line_count"] += lines
        totals["quantity"] += quantity
        totals["amount"] += amount
    forms: dict = {}
    shares = []
    for *counts, share, shared, partner_name, raw in _forms(session, caller, month,
                                                            group_by):
        key = _group_key(raw, group_by, caller)
        row = rows.get(key)
        if row is None:
            row = rows[key] = _empty_row(key)
        for status, count in zip(STATUSES, counts, strict=True):
            row["forms"][status] += count
            totals["forms"][status] += count
        row["channel_share"] = f"{share:.2f}" if share is not None else None
        if share is not None:
            shares.append((share, shared))
        forms[key] = {"partner_name": partner_name}
    labels = _labels(session, group_by, rows.keys(), forms)
    for key, row in rows.items():
        row["label"] = labels[key]
    weight = sum(n for _, n in shares)
    totals["channel_share"] = f"{sum(s * n for s, n in shares) / weight:.2f}" \
        if weight else None
    types = sorted(totals["by_type"], key=lambda t: (-totals["by_type"][t][2], t))
    ordered = sorted(rows.values(), key=lambda r: (-r["amount"], str(r["label"])))
    return {"report": "channels", "month": month, "group_by": group_by,
            "product_types": types, "rows": [_dump_row(r, types) for r in ordered],
            "totals": _dump_row(totals, types)}
