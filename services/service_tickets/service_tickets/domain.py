"""After-sales rules with no I/O: who may do what, the ticket and parts-order workflows,
IMEI checks, warranty and SLA arithmetic."""
import calendar
from datetime import date, datetime, timedelta

from crmkit.context import Caller

# The service desk (call centre and HQ): sees every ticket, dispatches, closes.
DESK = frozenset({"admin", "vp", "hq_head", "service_agent"})
# Reads tickets and stock without changing them.
READERS = DESK | {"analyst"}
PARTNER = "repair_partner"
# Who keeps the parts catalogue, warehouses and stock counts.
STOCK_KEEPERS = frozenset({"admin", "hq_head"})
# Who approves, rejects and ships parts orders.
ORDER_APPROVERS = DESK

CHANNELS = ("call_center", "partner", "self_service", "store")
REGISTRATION_SOURCES = ("store", "call_center", "self_service", "repair_point")
PRIORITIES = ("urgent", "high", "normal", "low")
CATEGORIES = ("repair", "return", "exchange", "inspection")
PRODUCT_STATUSES = ("active", "returned", "exchanged", "scrapped")
PRODUCT_CHANGES = ("registered", "returned", "exchanged", "repaired", "scrapped")
WAREHOUSE_KINDS = ("hq", "branch", "service_center")

TICKET_STATUSES = ("new", "assigned", "diagnosing", "waiting_parts", "repairing", "done",
                   "closed", "cancelled")
OPEN_STATUSES = frozenset({"new", "assigned", "diagnosing", "waiting_parts", "repairing"})
# status -> statuses it may move to. Re-dispatching an assigned ticket is `assigned` again.
TICKET_FLOW = {
    "new": ("assigned", "cancelled"),
    "assigned": ("assigned", "diagnosing", "cancelled"),
    "diagnosing": ("waiting_parts", "repairing", "cancelled"),
    "waiting_parts": ("repairing", "cancelled"),
    "repairing": ("waiting_parts", "done"),
    "done": ("closed", "repairing"),
    "closed": (),
    "cancelled": (),
}
# Steps of the repair itself, which the assigned centre takes; the desk takes them too.
WORKSHOP_STEPS = frozenset({"diagnosing", "waiting_parts", "repairing", "done"})
# Statuses in which a centre writes its work log.
WORKING_STATUSES = frozenset({"diagnosing", "waiting_parts", "repairing"})

ORDER_STATUSES = ("submitted", "approved", "shipped", "received", "rejected", "cancelled")
ORDER_FLOW = {
    "submitted": ("approved", "rejected", "cancelled"),
    "approved": ("shipped", "cancelled"),
    "shipped": ("received",),
    "received": (),
    "rejected": (),
    "cancelled": (),
}

DEFAULT_SLA_HOURS = {"urgent": 4, "high": 24, "normal": 72, "low": 168}


# --- who ------------------------------------------------------------------------------------
def is_desk(caller: Caller) -> bool:
    return bool(caller.roles & DESK)


def is_partner(caller: Caller) -> bool:
    return PARTNER in caller.roles and caller.partner_id is not None


def may_read_tickets(caller: Caller) -> bool:
    return bool(caller.roles & READERS) or is_partner(caller)


def sees_partner_record(caller: Caller, partner_id: int | None) -> bool:
    """Desk and readers see every ticket and order; a repair partner only its own."""
    if caller.roles & READERS:
        return True
    return is_partner(caller) and partner_id == caller.partner_id


def sees_full_phones(caller: Caller) -> bool:
    """Consumers' phones are personal data: the desk and the repairing partner work with
    them; analysts get them masked and may not search by them."""
    return is_desk(caller) or is_partner(caller)


def mask_phone(phone: str) -> str:
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) > 7 else "****"


def transition_problem(caller: Caller, status: str, to: str, partner_id: int | None) -> str | None:
    """Why `caller` may not move a ticket from `status` to `to` (None when allowed)."""
    if to not in TICKET_FLOW[status]:
        return f"a {status} ticket cannot become {to}"
    if is_desk(caller):
        return None
    if is_partner(caller) and partner_id == caller.partner_id and to in WORKSHOP_STEPS:
        return None
    return f"your role may not move a ticket to {to}"


def order_transition_problem(caller: Caller, status: str, to: str,
                             partner_id: int) -> str | None:
    if to not in ORDER_FLOW[status]:
        return f"a {status} parts order cannot become {to}"
    own = is_partner(caller) and partner_id == caller.partner_id
    if to in ("approved", "rejected", "shipped"):
        return None if caller.roles & ORDER_APPROVERS else f"your role may not mark it {to}"
    # received and cancelled: the ordering partner, or the desk for them.
    return None if own or caller.roles & ORDER_APPROVERS else f"you may not mark it {to}"


# --- devices --------------------------------------------------------------------------------
def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def imei_problem(imei: str) -> str | None:
    if len(imei) != 15 or not imei.isdigit():
        return "must be 15 digits"
    if not luhn_ok(imei):
        return "check digit does not match (Luhn)"
    return None


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def warranty_until(sold_at: date | None, months: int | None) -> date | None:
    if sold_at is None or months is None:
        return None
    return add_months(sold_at, months) - timedelta(days=1)


def in_warranty(until: date | None, on: date) -> bool:
    return until is not None and on <= until


# --- SLA ------------------------------------------------------------------------------------
def parse_sla_hours(text: str | None) -> dict[str, int]:
    """`urgent=4,high=24,...` over the defaults; a bad entry is a start-up error."""
    hours = dict(DEFAULT_SLA_HOURS)
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        name, _, value = item.partition("=")
        if name.strip() not in hours or not value.strip().isdigit() or int(value) <= 0:
            raise ValueError(f"CRM_TICKET_SLA_HOURS: bad entry {item!r}")
        hours[name.strip()] = int(value)
    return hours


def due_at(opened_at: datetime, priority: str, hours: dict[str, int]) -> datetime:
    return opened_at + timedelta(hours=hours[priority])


def warn_at(opened_at: datetime, due: datetime, fraction: float) -> datetime:
    return opened_at + (due - opened_at) * fraction


def normalise_phone(phone: str) -> str:
    """Digits only, mainland prefix dropped: how phones are stored and looked up."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.strip().startswith("+86") or (len(digits) == 13 and digits.startswith("86")):
        digits = digits[2:]
    return digits
