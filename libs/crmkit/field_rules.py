"""Field-level permissions: per role, a field of a resource may be `hidden` (left out when
serialising), `masked` (shown partly, e.g. 138****8000) or `read_only` (refused when
accepting updates; hidden and masked fields are not writable either). A caller with several roles
gets the most permissive answer: a field is hidden or read-only only if every one of
their roles says so. Rules are a plain table `{(role, resource, field): "hidden"|"read_only"}`
owned by each service."""
from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.context import Caller
from crmkit.database import UnitOfWork, utcnow
from crmkit.entrypoints import event_handler
from crmkit.errors import Forbidden
from crmkit.rpc_client import TimedRpcProxy
from crmkit.tables import NAMING_CONVENTION

HIDDEN = "hidden"
MASKED = "masked"
READ_ONLY = "read_only"
RULES = (HIDDEN, MASKED, READ_ONLY)
_STRENGTH = {None: 0, READ_ONLY: 1, MASKED: 2, HIDDEN: 3}


def rule_for(rules: dict, caller: Caller, resource: str, field: str) -> str | None:
    if not caller.roles:
        return None
    weakest = min((rules.get((role, resource, field)) for role in caller.roles),
                  key=_STRENGTH.__getitem__)
    return weakest


def masked_value(value):
    """Enough to recognise, not to use: 138****8000, 张**."""
    if value is None:
        return None
    text = str(value)
    if len(text) <= 2:
        return "*" * len(text)
    keep = 3 if len(text) >= 7 else 1
    tail = 4 if len(text) >= 7 else 0
    return text[:keep] + "*" * (len(text) - keep - tail) + (text[-tail:] if tail else "")


def mask(rules: dict, caller: Caller, resource: str, record: dict) -> dict:
    """`record` without the fields hidden from the caller, masked ones masked."""
    verdicts = {f: rule_for(rules, caller, resource, f) for f in record}
    if not any(v in (HIDDEN, MASKED) for v in verdicts.values()):
        return record
    return {k: masked_value(v) if verdicts[k] == MASKED else v
            for k, v in record.items() if verdicts[k] != HIDDEN}


def check_writable(rules: dict, caller: Caller, resource: str, data: dict) -> None:
    """Refuse (403, naming the fields) a change to fields the caller may not write."""
    locked = sorted(f for f in data if rule_for(rules, caller, resource, f) is not None)
    if locked:
        raise Forbidden("Your role may not change " + ", ".join(locked),
                        {f: ["read-only for your role"] for f in locked}, code="field_read_only")


# --- a service's copy of accounts' table --------------------------------------------------
# accounts owns the field permission table; other services keep its latest snapshot (one
# row) fed by `field_permissions_changed`, and ask accounts once when they have none yet.
field_rules_metadata = MetaData(naming_convention=NAMING_CONVENTION)

field_rules_snapshot = Table(
    "field_rules_snapshot", field_rules_metadata,
    Column("id", Integer, primary_key=True),
    Column("rules", JSONB, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
)


def rules_from_items(items: list[dict]) -> dict:
    return {(i["role"], i["resource"], i["field"]): i["rule"] for i in items if i["rule"]}


def store_snapshot(unit: UnitOfWork, items: list[dict], as_of: datetime) -> None:
    stmt = pg_insert(field_rules_snapshot).values(id=1, rules=items, as_of=as_of)
    unit.session.execute(stmt.on_conflict_do_update(
        index_elements=[field_rules_snapshot.c.id],
        set_={"rules": stmt.excluded.rules, "as_of": stmt.excluded.as_of},
        where=field_rules_snapshot.c.as_of <= stmt.excluded.as_of))


class FieldRulesReadCopy:
    """Mix into a service class (with `db = Database()`): `field_rules()` is the current
    table as `{(role, resource, field): rule}`. Migrations include `field_rules_metadata`."""

    accounts = TimedRpcProxy("accounts")

    def field_rules(self) -> dict:
        return self.db.memo("field_rules", self._load_field_rules)

    def _load_field_rules(self) -> dict:
        unit = self.db
        items = unit.session.execute(select(field_rules_snapshot.c.rules)).scalar()
        if items is None:
            items = self.accounts.list_field_permissions()["items"]
            if not unit.read_only:  # a read-only unit asks again next time
                store_snapshot(unit, items, utcnow())
        return rules_from_items(items)

    @event_handler("accounts", "field_permissions_changed")
    def on_field_permissions_changed(self, event):
        store_snapshot(self.db, event["data"]["items"],
                       datetime.fromisoformat(event["occurred_at"]))
