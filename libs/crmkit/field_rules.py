"""Field-level permissions: per role, a field of a resource may be `hidden` (left out when
serialising) or `read_only` (refused when accepting updates). A caller with several roles
gets the most permissive answer: a field is hidden or read-only only if every one of
their roles says so. Rules are a plain table `{(role, resource, field): "hidden"|"read_only"}`
owned by each service."""
from crmkit.context import Caller
from crmkit.errors import Forbidden

HIDDEN = "hidden"
READ_ONLY = "read_only"
_STRENGTH = {None: 0, READ_ONLY: 1, HIDDEN: 2}


def rule_for(rules: dict, caller: Caller, resource: str, field: str) -> str | None:
    if not caller.roles:
        return None
    weakest = min((rules.get((role, resource, field)) for role in caller.roles),
                  key=_STRENGTH.__getitem__)
    return weakest


def mask(rules: dict, caller: Caller, resource: str, record: dict) -> dict:
    """`record` without the fields hidden from the caller."""
    hidden = [f for f in record if rule_for(rules, caller, resource, f) == HIDDEN]
    if not hidden:
        return record
    return {k: v for k, v in record.items() if k not in hidden}


def check_writable(rules: dict, caller: Caller, resource: str, data: dict) -> None:
    """Refuse (403, naming the fields) a change to fields the caller may not write."""
    locked = sorted(f for f in data if rule_for(rules, caller, resource, f) is not None)
    if locked:
        raise Forbidden("Your role may not change " + ", ".join(locked),
                        {f: ["read-only for your role"] for f in locked}, code="field_read_only")
