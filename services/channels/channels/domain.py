"""Channel rules with no I/O: who may do what to partners, stores, inspection forms and
action plans; the inspection workflow. (Which fields each role may see or change is
accounts' field permission table, copied here.)"""
from crmkit.context import Caller
from crmkit.directory import Person
from crmkit.scope import GLOBAL_ROLES, is_ancestor_path

PARTNER_KINDS = ("national_distributor", "provincial_distributor", "local_distributor",
                 "carrier", "chain", "online_retailer", "tv_retailer", "service_provider")
TIERS = ("bronze", "silver", "gold", "platinum")
STORE_STATUSES = ("active", "inactive", "closed")
PARTNER_STATUSES = ("active", "suspended", "terminated")

# Managers edit every operational record of their subtree.
MANAGERS = frozenset({"admin", "vp", "hq_head", "region_manager"})
# Who creates and maintains partners and stores (channel owners: their own only).
MAINTAINERS = MANAGERS | {"channel_owner"}
# Who creates inspection forms (a region manager, or someone above).
FORM_CREATORS = MANAGERS
# Who reviews a submitted form (and must sit above the submitter).
REVIEWERS = MANAGERS
PLAN_CREATORS = MAINTAINERS

# Partner history keeps these fields.
TRACKED_PARTNER_FIELDS = ("tier", "owner_id", "credit_limit")


# Inspection workflow: action -> (from status, to status).
TRANSITIONS = {"submit": ("draft", "submitted"), "review": ("submitted", "reviewed")}


def is_manager(caller: Caller) -> bool:
    return bool(caller.roles & MANAGERS)


def may_maintain(caller: Caller, owner_id: int | None) -> bool:
    """Change a partner, store or plan owned by `owner_id` (already known to be in scope)."""
    if caller.roles & MANAGERS:
        return True
    return "channel_owner" in caller.roles and owner_id == caller.user_id


def may_assign_owner(caller: Caller, owner_id: int) -> bool:
    """Channel owners keep what they create; managers hand records to anyone in scope."""
    return bool(caller.roles & MANAGERS) or owner_id == caller.user_id


def transition_problem(action: str, status: str) -> str | None:
    source, _ = TRANSITIONS[action]
    if status != source:
        return f"a {status} form cannot be {'submitted' if action == 'submit' else 'reviewed'}"
    return None


def may_fill_form(caller: Caller, owner_id: int, created_by: int) -> bool:
    """Edit a draft form or add lines: its owner, its creator, or a manager in scope."""
    return caller.user_id in (owner_id, created_by) or bool(caller.roles & MANAGERS)


def is_above(reviewer: Person, submitter: Person, submitter_managers: list[int]) -> bool:
    """The reviewer is in the submitter's management chain or sits in a unit strictly above
    the submitter's."""
    if reviewer.user_id == submitter.user_id:
        return False
    return reviewer.user_id in submitter_managers or \
        is_ancestor_path(reviewer.org_path, submitter.org_path)


def review_problem(caller: Caller, reviewer: Person, submitter: Person,
                   submitter_managers: list[int]) -> str | None:
    if not caller.roles & REVIEWERS:
        return "your role may not review inspection forms"
    if caller.user_id == submitter.user_id:
        return "you cannot review a form you submitted"
    if caller.roles & GLOBAL_ROLES:
        return None
    if not is_above(reviewer, submitter, submitter_managers):
        return "only someone above the submitter may review the form"
    return None
