"""Who sees which figures. Channel figures are operational records: everyone in the
owner's unit and above sees them. Visit figures are personal: managing roles see their
subtree, anyone else only themselves. After-sales figures are for the service desk, HQ
and analysts (everything) and a repair partner (its own tickets only)."""
from crmkit.context import Caller
from crmkit.directory import owned_within, personal_within
from crmkit.errors import Forbidden

MANAGERS = frozenset({"admin", "vp", "hq_head", "region_manager"})
TICKET_READERS = frozenset({"admin", "vp", "hq_head", "service_agent", "analyst"})
REPAIR_PARTNER = "repair_partner"


def channel_scope(stmt, owner_column, caller: Caller):
    condition = owned_within(owner_column, caller)
    return stmt if condition is None else stmt.where(condition)


def visit_scope(stmt, user_column, caller: Caller):
    condition = personal_within(user_column, caller, MANAGERS)
    return stmt if condition is None else stmt.where(condition)


def ticket_partner_scope(caller: Caller) -> int | None:
    """None: every ticket; otherwise only this partner's. Anyone else is refused."""
    if caller.roles & TICKET_READERS:
        return None
    if REPAIR_PARTNER in caller.roles and caller.partner_id is not None:
        return caller.partner_id
    raise Forbidden("The after-sales report is for the service desk, HQ, analysts and "
                    "repair partners", code="not_a_ticket_reader")
