"""Org-tree scope rules shared by every service: subtree prefix matches on materialised
paths (`/1/4/9/`) and direct-report checks on the manager link. Pure functions."""
from crmkit.context import Caller

# Roles that see everything regardless of where they sit in the tree.
GLOBAL_ROLES = frozenset({"admin"})


def child_path(parent_path: str | None, node_id: int) -> str:
    return f"{parent_path or '/'}{node_id}/"


def path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def is_within(path: str | None, root_path: str | None) -> bool:
    """True when `path` is `root_path` or below it."""
    if not path or not root_path:
        return False
    return path.startswith(root_path)


def is_ancestor_path(path: str, of_path: str) -> bool:
    """True when `path` is strictly above `of_path`."""
    return of_path.startswith(path) and of_path != path


def caller_sees_path(caller: Caller, path: str | None) -> bool:
    """Operational records: visible to everyone in the owning unit and above."""
    if caller.roles & GLOBAL_ROLES:
        return True
    return is_within(path, caller.org_path)


def subtree_filter(column, caller: Caller):
    """SQLAlchemy condition restricting `column` (a materialised path) to the caller's subtree;
    None means no restriction."""
    if caller.roles & GLOBAL_ROLES:
        return None
    if not caller.org_path:
        return column.is_(None) & column.isnot(None)  # sees nothing
    return column.startswith(caller.org_path, autoescape=True)


def is_direct_report(manager_id: int | None, caller: Caller) -> bool:
    """No skip-level commands: a caller may direct only themself or their direct reports."""
    return manager_id is not None and manager_id == caller.user_id


def may_assign_to(caller: Caller, assignee_id: int, assignee_manager_id: int | None) -> bool:
    return assignee_id == caller.user_id or is_direct_report(assignee_manager_id, caller)
