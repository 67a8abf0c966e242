"""The monthly after-sales report over the tickets opened in the month: counts by status
and by region, SLA breaches, the top fault codes of each model, mean time to repair
(opened to done), satisfaction (survey scores 1-5); plus parts fitted and parts orders of
the month."""
from collections import defaultdict

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from crmkit.context import Caller
from reporting.access import ticket_partner_scope
from reporting.models import PartsOrderFact, PartsUsedTotal, TicketFact

OPEN_STATUSES = ("new", "assigned", "diagnosing", "waiting_parts", "repairing")
TOP_FAULT_CODES = 5
UNKNOWN = "未知"


def _hours(seconds) -> float | None:
    return round(float(seconds) / 3600, 2) if seconds is not None else None


def _score(value) -> float | None:
    return round(float(value), 2) if value is not None else None


def _where(stmt, table, month: str, partner_id: int | None):
    stmt = stmt.where(table.month == month)
    return stmt if partner_id is None else stmt.where(table.partner_id == partner_id)


def _figures():
    t = TicketFact
    repair_s = extract("epoch", t.repaired_at - t.opened_at)
    return (func.count(), func.count().filter(t.status.in_(OPEN_STATUSES)),
            func.count().filter(t.sla_breached.is_(True)), func.avg(repair_s),
            func.count(t.survey_score), func.avg(t.survey_score))


def _dump_figures(opened, still_open, breached, repair_s, answered, score) -> dict:
    return {"opened": opened, "open": still_open, "sla_breached": breached,
            "mttr_hours": _hours(repair_s), "surveys_answered": answered,
            "satisfaction": _score(score)}


def build(session: Session, caller: Caller, month: str) -> dict:
    partner_id = ticket_partner_scope(caller)
    t = TicketFact
    totals = _dump_figures(*session.execute(
        _where(select(*_figures()), t, month, partner_id)).one())
    by_status = [{"status": s, "tickets": n} for s, n in session.execute(
        _where(select(t.status, func.count()), t, month, partner_id)
        .group_by(t.status).order_by(func.count().desc(), t.status))]
    by_region = [dict(region=region or UNKNOWN, **_dump_figures(*figures))
                 for region, *figures in session.execute(
                     _where(select(t.region, *_figures()), t, month, partner_id)
                     .group_by(t.region).order_by(func.count().desc(), t.region))]
    ranked: dict[str, list] = defaultdict(list)
    for model, code, n in session.execute(
            _where(select(t.model, t.fault_code, func.count()), t, month, partner_id)
            .where(t.fault_code.isnot(None)).group_by(t.model, t.fault_code)
            .order_by(func.count().desc(), t.model, t.fault_code)):
        if len(ranked[model or UNKNOWN]) < TOP_FAULT_CODES:
            ranked[model or UNKNOWN].append({"model": model or UNKNOWN, "fault_code": code,
                                             "tickets": n})
    top = [entry for model in sorted(ranked) for entry in ranked[model]]
    p = PartsUsedTotal
    parts = [{"part_id": part, "quantity": int(q)} for part, q in session.execute(
        _where(select(p.part_id, func.sum(p.quantity)), p, month, partner_id)
        .group_by(p.part_id).order_by(func.sum(p.quantity).desc(), p.part_id))]
    o = PartsOrderFact
    orders = [{"status": s, "orders": n} for s, n in session.execute(
        _where(select(o.status, func.count()), o, month, partner_id)
        .group_by(o.status).order_by(o.status))]
    totals["parts_used"] = sum(x["quantity"] for x in parts)
    return {"report": "tickets", "month": month, "totals": totals, "by_status": by_status,
            "by_region": by_region, "top_fault_codes": top, "parts_used": parts,
            "parts_orders": orders}
