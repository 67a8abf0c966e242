"""Field-level permissions: per role, a field of a resource may be `hidden` (left out when
serialising), `masked` (shown partly, e.g. 138****8000) or `read_only` (refused when
accepting updates; hidden and masked fields are not writable either). A caller with several roles
gets the most permissive answer: a field is hidden or read-only only if every one of
their roles says so. Rules are a plain table `{(role, resource, field): "hidden"|"read_only"}`
owned by each service."""
from crmkit.context import Caller
from crmkit.errors import Forbidden

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
