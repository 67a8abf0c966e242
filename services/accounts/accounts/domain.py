"""Identity rules with no I/O: roles and their ranks, who may manage whom, the shape of the
org tree, lockout arithmetic."""
from datetime import datetime, timedelta

from crmkit.context import Caller
from crmkit.scope import is_within

ROLES = ("admin", "vp", "hq_head", "region_manager", "channel_owner", "field_sales",
         "service_agent", "repair_partner", "analyst")

# Managing roles outrank the rest; a manager grants only roles ranked below their own.
ROLE_RANK = {"admin": 100, "vp": 80, "hq_head": 60, "region_manager": 40}
BASE_RANK = 10
MANAGING_ROLES = frozenset(ROLE_RANK)
AUDIT_READERS = MANAGING_ROLES

ORG_KINDS = ("hq", "region", "center", "city", "team", "partner")
# Which kinds may sit under which parent kinds (None: a root).
ALLOWED_PARENT_KINDS = {
    "hq": {None},
    "region": {"hq"},
    "center": {"region"},
    "city": {"region", "center"},
    "team": {"hq", "region", "center", "city"},
    "partner": {"hq", "region", "center", "city"},
}


def rank(roles) -> int:
    return max((ROLE_RANK.get(role, BASE_RANK) for role in roles), default=0)


def grant_problems(caller: Caller, roles) -> list[str]:
    """Why `caller` may not grant `roles` (empty when allowed)."""
    if caller.is_admin:
        return []
    problems = []
    if "admin" in roles:
        problems.append("only an admin may grant the admin role")
    own = rank(caller.roles)
    too_high = sorted(r for r in roles if r != "admin" and ROLE_RANK.get(r, BASE_RANK) >= own)
    if too_high:
        problems.append(f"you may not grant {', '.join(too_high)}")
    return problems


def partner_binding_problem(caller: Caller, old_partner_id: int | None,
                            new_partner_id: int | None) -> str | None:
    """Binding a user to a partner company hands them that partner's service records
    (tickets, consumers' phones, parts orders), whichever region it serves: only an admin
    binds or rebinds; anyone who manages the user may still unbind."""
    if caller.is_admin or new_partner_id in (None, old_partner_id):
        return None
    return "only an admin binds a user to a partner company"


def may_manage_users_at(caller: Caller, org_path: str) -> bool:
    """Create or change users in the unit at `org_path`."""
    if caller.is_admin:
        return True
    return bool(caller.roles & MANAGING_ROLES) and is_within(org_path, caller.org_path)


def may_manage_user(caller: Caller, user_org_path: str, user_roles) -> bool:
    if caller.is_admin:
        return True
    return may_manage_users_at(caller, user_org_path) and rank(user_roles) < rank(caller.roles)


def may_see_user(caller: Caller, user_id: int, user_org_path: str) -> bool:
    return caller.is_admin or caller.user_id == user_id or is_within(user_org_path,
                                                                      caller.org_path)


def may_see_org_unit(caller: Caller, unit_path: str) -> bool:
    """The caller's subtree, and the chain above them (their own unit's ancestors)."""
    if caller.is_admin or is_within(unit_path, caller.org_path):
        return True
    return bool(caller.org_path) and caller.org_path.startswith(unit_path)


def parent_kind_problem(kind: str, parent_kind: str | None) -> str | None:
    if parent_kind not in ALLOWED_PARENT_KINDS[kind]:
        where = f"under a {parent_kind}" if parent_kind else "at the root"
        return f"a {kind} cannot sit {where}"
    return None


def rebase_path(path: str, old_prefix: str, new_prefix: str) -> str:
    assert path.startswith(old_prefix)
    return new_prefix + path[len(old_prefix):]


def manager_placement_problem(manager_path: str, user_path: str) -> str | None:
    """A manager sits in the user's unit or above it, so scope follows the chain."""
    if not is_within(user_path, manager_path):
        return "the manager must belong to the user's org unit or one above it"
    return None


def next_lockout(failed_logins: int, now: datetime, max_failures: int,
                 lockout_seconds: int) -> tuple[int, datetime | None]:
    """After one more failure: (failures to store, locked_until)."""
    failed = failed_logins + 1
    if failed >= max_failures:
        return 0, now + timedelta(seconds=lockout_seconds)
    return failed, None


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and locked_until > now
