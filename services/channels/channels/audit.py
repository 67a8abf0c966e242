"""Reading the audit log of channels' records: managers, for records in their scope."""
from channels import domain
from channels.access import require_role, visible
from channels.models import ActionPlan, Inspection, Partner, Store
from crmkit.audit import audit_page
from crmkit.database import UnitOfWork
from crmkit.field_rules import mask

AUDITED = {"partner": Partner, "store": Store, "inspection": Inspection,
           "action_plan": ActionPlan}


def list_audit(unit: UnitOfWork, rules: dict, query: dict) -> dict:
    require_role(unit, domain.MANAGERS, "read the audit log")
    visible(unit, AUDITED[query["resource"]], query["id"], query["resource"].replace("_", " "))
    return audit_page(unit, query,
                      redact=lambda r: mask(rules, unit.caller, query["resource"], r))
