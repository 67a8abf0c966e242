"""Reading the audit log of after-sales records: the service desk."""
from crmkit.audit import audit_page
from crmkit.database import UnitOfWork
from crmkit.errors import NotFound
from service_tickets.access import require_desk
from service_tickets.models import (
    Consumer,
    Part,
    PartsOrder,
    Product,
    ServiceCenter,
    Ticket,
    Warehouse,
)

AUDITED = {"ticket": Ticket, "consumer": Consumer, "product": Product,
           "parts_order": PartsOrder, "part": Part, "warehouse": Warehouse,
           "service_center": ServiceCenter}


def list_audit(unit: UnitOfWork, query: dict) -> dict:
    require_desk(unit, "read the audit log")
    if unit.session.get(AUDITED[query["resource"]], query["id"]) is None:
        raise NotFound(f"No such {query['resource'].replace('_', ' ')}")
    return audit_page(unit, query)
