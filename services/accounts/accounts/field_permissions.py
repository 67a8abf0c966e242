"""The field permission table (role, resource, field -> hidden | masked | read_only):
read once per unit of work, applied by every read and write of accounts' records, and
changed by admins (audited)."""
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from accounts.models import FieldPermission
from crmkit.database import UnitOfWork
from crmkit.errors import Forbidden


def rules_of(unit: UnitOfWork) -> dict:
    return unit.memo("field_rules", lambda: {
        (r.role, r.resource, r.field): r.rule
        for r in unit.session.execute(select(FieldPermission)).scalars()})


def _dump(rules: dict) -> dict:
    return {"items": [{"role": role, "resource": resource, "field": field, "rule": rule}
                      for (role, resource, field), rule in sorted(rules.items())]}


def list_rules(unit: UnitOfWork) -> dict:
    return _dump(rules_of(unit))


def set_rules(unit: UnitOfWork, data: dict) -> dict:
    """Upsert the given rules; a `rule` of null removes that rule."""
    if not unit.caller.is_admin:
        raise Forbidden("Only admins change field permissions")
    before = _dump(rules_of(unit))
    for item in data["items"]:
        key = (FieldPermission.role == item["role"]) & \
            (FieldPermission.resource == item["resource"]) & \
            (FieldPermission.field == item["field"])
        if item["rule"] is None:
            unit.session.execute(delete(FieldPermission).where(key))
        else:
            stmt = pg_insert(FieldPermission).values(**item)
            unit.session.execute(stmt.on_conflict_do_update(
                index_elements=[FieldPermission.role, FieldPermission.resource,
                                FieldPermission.field], set_={"rule": item["rule"]}))
    unit.forget("field_rules")
    after = _dump(rules_of(unit))
    unit.audit("update", "field_permissions", "all", before, after)
    unit.emit("field_permissions_changed", after)
    return after
