"""service_tickets' own settings (the kit's settings cover the bus and the database)."""
import functools
from dataclasses import dataclass

from crmkit.settings import env
from service_tickets.domain import parse_sla_hours


@dataclass(frozen=True)
class TicketSettings:
    # Hours from intake to due time, by priority.
    sla_hours: dict
    # Calendar of warranty dates (a device sold on the 1st in Beijing is in warranty there).
    time_zone: str
    # How often the SLA sweeper looks for overdue tickets.
    sla_sweep_s: float
    # Share of the SLA window after which the centre is warned (0.8: with a fifth left).
    sla_warn_at: float


@functools.cache
def ticket_settings() -> TicketSettings:
    return TicketSettings(
        sla_hours=parse_sla_hours(env.str("CRM_TICKET_SLA_HOURS", "")),
        time_zone=env.str("CRM_DEFAULT_TIME_ZONE", "Asia/Shanghai"),
        sla_sweep_s=env.float("CRM_TICKET_SLA_SWEEP_S", 30.0),
        sla_warn_at=env.float("CRM_TICKET_SLA_WARN_AT", 0.8,
                              validate=lambda v: 0 < v < 1),
    )
