"""Use cases of the accounts service: one function per command or query. Each takes the
worker's unit of work (session + outbox + audit) and the validated input."""
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from accounts import domain
from accounts.customers import visible_customer
from accounts.field_permissions import rules_of
from accounts.models import AuthSession, Customer, OrgUnit, User
from accounts.passwords import hash_password, needs_rehash, verify_password
from accounts.schemas import MeSchema, OrgUnitSchema, UserSchema
from accounts.settings import AccountsSettings
from crmkit.audit import audit_page
from crmkit.context import Caller
from crmkit.database import UnitOfWork, utcnow
from crmkit.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    TooManyRequests,
    ValidationFailed,
)
from crmkit.field_rules import mask
from crmkit.pagination import page, paginate
from crmkit.scope import child_path, is_within, subtree_filter
from crmkit.tokens import hash_secret, issue_access_token, new_refresh_secret, split_refresh_token

user_schema = UserSchema()
org_unit_schema = OrgUnitSchema()
me_schema = MeSchema()

INVALID_CREDENTIALS = "Wrong username or password"


def _invalid(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(problem, {field: [problem]})


# --- authentication ---------------------------------------------------------------------
def _caller_of(user: User, unit_path: str, session_id: str) -> Caller:
    return Caller(user_id=user.id, roles=frozenset(user.roles), org_unit_id=user.org_unit_id,
                  org_path=unit_path, session_id=session_id, partner_id=user.partner_id)


def _token_pair(settings: AccountsSettings, user: User, unit_path: str, session_id: str,
                secret: str) -> dict:
    return {
        "access_token": issue_access_token(settings.tokens,
                                           _caller_of(user, unit_path, session_id)),
        "refresh_token": f"{session_id}.{secret}",
        "token_type": "bearer",
        "expires_in": settings.tokens.access_ttl,
    }


def issue_token(unit: UnitOfWork, settings: AccountsSettings, data: dict) -> dict:
    now = utcnow()
    user = unit.session.execute(
        select(User).where(func.lower(User.username) == data["username"].lower())
        .with_for_update()).scalar_one_or_none()
    if user is None:
        verify_password(None, data["password"])
        raise NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials")
    if domain.is_locked(user.locked_until, now):
        raise TooManyRequests("Too many failed logins; the account is locked for a while",
                              code="account_locked")
    if not verify_password(user.password_hash, data["password"]) or not user.active:
        user.failed_logins, locked_until = domain.next_lockout(
            user.failed_logins, now, settings.login.max_failures,
            settings.login.lockout_seconds)
        if locked_until is not None:
            user.locked_until = locked_until
            unit.audit("locked", "user", user.id, None, {"locked_until": locked_until.isoformat()},
                       note="too many failed logins")
        # The failure count must survive the error reply, so commit before raising.
        unit.commit()
        raise NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials")
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(data["password"])
    session_id, secret = str(uuid.uuid4()), new_refresh_secret()
    unit.session.add(AuthSession(id=session_id, user_id=user.id, refresh_hash=hash_secret(secret),
                                 expires_at=now + timedelta(seconds=settings.tokens.refresh_ttl)))
    return _token_pair(settings, user, _unit_path(unit, user.org_unit_id), session_id, secret)


def refresh_token(unit: UnitOfWork, settings: AccountsSettings, data: dict) -> dict:
    now = utcnow()
    session_id, secret = split_refresh_token(data["refresh_token"])
    session = unit.session.get(AuthSession, session_id, with_for_update=True) \
        if len(session_id) == 36 else None
    if session is None or session.revoked_at is not None or session.expires_at <= now:
        raise NotAuthenticated("The refresh token is invalid or expired", code="invalid_token")
    if session.refresh_hash != hash_secret(secret):
        # An old secret presented again means the token was copied: end the whole session.
        _revoke_session(unit, session, now, reason="refresh token reuse")
        unit.commit()
        raise NotAuthenticated("The refresh token is invalid or expired", code="invalid_token")
    user = unit.session.get(User, session.user_id)
    if not user.active:
        raise NotAuthenticated("The account is inactive", code="invalid_token")
    secret = new_refresh_secret()
    session.refresh_hash = hash_secret(secret)
    return _token_pair(settings, user, _unit_path(unit, user.org_unit_id), session.id, secret)


def _revoke_session(unit: UnitOfWork, session: AuthSession, now: datetime, reason: str) -> None:
    session.revoked_at = now
    unit.emit("session_revoked", {"session_id": session.id, "user_id": session.user_id,
                                  "revoked_at": now.isoformat(), "reason": reason})


def logout(unit: UnitOfWork, data: dict) -> dict:
    caller = unit.caller
    session_ids = {caller.session_id} if caller.session_id else set()
    if data.get("refresh_token"):
        session_ids.add(split_refresh_token(data["refresh_token"])[0])
    now = utcnow()
    for session_id in session_ids:
        session = unit.session.get(AuthSession, session_id) if len(session_id) == 36 else None
        if session is not None and session.user_id == caller.user_id \
                and session.revoked_at is None:
            _revoke_session(unit, session, now, reason="logout")
    return {"revoked": True}


def list_revocations(unit: UnitOfWork, settings: AccountsSettings) -> dict:
    """What a starting gateway needs to refuse still-unexpired tokens: revoked sessions and
    per-user cut-off times from the last access-token lifetime."""
    since = utcnow() - timedelta(seconds=settings.tokens.access_ttl + 60)
    sessions = unit.session.execute(
        select(AuthSession.id).where(AuthSession.revoked_at >= since)).scalars().all()
    users = unit.session.execute(
        select(User.id, User.tokens_valid_after).where(User.tokens_valid_after >= since)).all()
    return {"session_ids": list(sessions),
            "users": {str(uid): at.timestamp() for uid, at in users}}


def _cut_off_tokens(unit: UnitOfWork, user: User, reason: str) -> None:
    now = utcnow()
    user.tokens_valid_after = now
    unit.emit("user_tokens_revoked", {"user_id": user.id, "not_before": now.timestamp(),
                                      "reason": reason})


# --- me ---------------------------------------------------------------------------------
def get_me(unit: UnitOfWork) -> dict:
    caller = unit.caller
    row = unit.session.execute(
        select(User, OrgUnit.path).join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.id == caller.user_id)).first()
    if row is None or not row.User.active:
        raise NotAuthenticated("The account no longer exists or is inactive",
                               code="invalid_token")
    me = me_schema.dump(row.User)
    me["org_path"] = row.path
    return me


# --- org units --------------------------------------------------------------------------
def _unit_path(unit: UnitOfWork, org_unit_id: int) -> str:
    return unit.session.execute(select(OrgUnit.path).where(OrgUnit.id == org_unit_id)).scalar_one()


def _visible_org_unit(unit: UnitOfWork, org_unit_id: int, *, field: str | None = None,
                      lock: bool = False) -> OrgUnit:
    org_unit = unit.session.get(OrgUnit, org_unit_id, with_for_update=lock)
    if org_unit is None or not domain.may_see_org_unit(unit.caller, org_unit.path):
        if field:
            raise _invalid(field, "no such org unit")
        raise NotFound("No such org unit")
    return org_unit


def create_org_unit(unit: UnitOfWork, data: dict) -> dict:
    caller = unit.caller
    parent = _visible_org_unit(unit, data["parent_id"], field="parent_id") \
        if data.get("parent_id") else None
    if not domain.may_manage_users_at(caller, parent.path if parent else "/"):
        raise Forbidden("You may not create org units there")
    problem = domain.parent_kind_problem(data["kind"], parent.kind if parent else None)
    if problem:
        raise _invalid("parent_id" if parent else "kind", problem)
    # The path needs the id, so take it from the sequence before inserting.
    new_id = unit.session.execute(select(func.nextval("org_units_id_seq"))).scalar_one()
    org_unit = OrgUnit(id=new_id, name=data["name"], kind=data["kind"],
                       parent_id=parent.id if parent else None,
                       path=child_path(parent.path if parent else None, new_id))
    unit.session.add(org_unit)
    unit.session.flush()
    unit.session.refresh(org_unit)
    dumped = org_unit_schema.dump(org_unit)
    unit.audit("create", "org_unit", org_unit.id, None, dumped)
    unit.emit("org_unit_created", {"org_unit": dumped})
    return dumped


def get_org_unit(unit: UnitOfWork, org_unit_id: int) -> dict:
    return org_unit_schema.dump(_visible_org_unit(unit, org_unit_id))


def list_org_units(unit: UnitOfWork, query: dict) -> dict:
    stmt = select(OrgUnit)
    scope = subtree_filter(OrgUnit.path, unit.caller)
    if scope is not None:
        stmt = stmt.where(scope)
    if "parent_id" in query:
        stmt = stmt.where(OrgUnit.parent_id == query["parent_id"])
    if "kind" in query:
        stmt = stmt.where(OrgUnit.kind == query["kind"])
    rows = unit.session.execute(paginate(stmt, OrgUnit.id, query["limit"],
                                         query["cursor"])).scalars().all()
    return page([org_unit_schema.dump(r) for r in rows], query["limit"])


def update_org_unit(unit: UnitOfWork, org_unit_id: int, data: dict) -> dict:
    caller = unit.caller
    org_unit = _visible_org_unit(unit, org_unit_id, lock=True)
    if not domain.may_manage_users_at(caller, org_unit.path) or \
            (not caller.is_admin and org_unit.path == caller.org_path):
        raise Forbidden("You may not change this org unit")
    before = org_unit_schema.dump(org_unit)
    if "name" in data:
        org_unit.name = data["name"]
    if "parent_id" in data and data["parent_id"] != org_unit.parent_id:
        _move_org_unit(unit, org_unit, data["parent_id"])
    unit.session.flush()
    unit.session.refresh(org_unit)
    after = org_unit_schema.dump(org_unit)
    if after != before:
        unit.audit("update", "org_unit", org_unit.id, before, after)
        unit.emit("org_unit_updated", {"org_unit": after})
    return after


def _move_org_unit(unit: UnitOfWork, org_unit: OrgUnit, new_parent_id: int) -> None:
    new_parent = _visible_org_unit(unit, new_parent_id, field="parent_id")
    if not domain.may_manage_users_at(unit.caller, new_parent.path):
        raise Forbidden("You may not move org units there")
    if is_within(new_parent.path, org_unit.path):
        raise Conflict("An org unit cannot move below itself",
                       {"parent_id": ["inside the moved subtree"]}, code="cycle")
    problem = domain.parent_kind_problem(org_unit.kind, new_parent.kind)
    if problem:
        raise _invalid("parent_id", problem)
    old_prefix = org_unit.path
    new_prefix = child_path(new_parent.path, org_unit.id)
    # One statement rebases the whole subtree; the unique path index keeps it consistent.
    unit.session.execute(
        update(OrgUnit).where(OrgUnit.path.startswith(old_prefix, autoescape=True))
        .values(path=new_prefix + func.substr(OrgUnit.path, len(old_prefix) + 1))
        .execution_options(synchronize_session=False))
    org_unit.parent_id = new_parent.id
    unit.session.flush()
    unit.session.expire(org_unit)
    # Tokens carry the org path; holders of old paths must refresh to get the new one.
    now = utcnow()
    unit.session.execute(
        update(User).where(User.org_unit_id.in_(
            select(OrgUnit.id).where(OrgUnit.path.startswith(new_prefix, autoescape=True))))
        .values(tokens_valid_after=now).execution_options(synchronize_session=False))
    unit.emit("org_unit_moved", {"org_unit_id": org_unit.id, "old_path": old_prefix,
                                 "new_path": new_prefix, "not_before": now.timestamp()})


# --- users ------------------------------------------------------------------------------
def _visible_user(unit: UnitOfWork, user_id: int, *, field: str | None = None,
                  lock: bool = False) -> tuple[User, str]:
    stmt = select(User, OrgUnit.path).join(OrgUnit, OrgUnit.id == User.org_unit_id) \
        .where(User.id == user_id)
    if lock:
        stmt = stmt.with_for_update(of=User)
    row = unit.session.execute(stmt).first()
    if row is None or not domain.may_see_user(unit.caller, row.User.id, row.path):
        if field:
            raise _invalid(field, "no such user")
        raise NotFound("No such user")
    return row.User, row.path


def _check_manager(unit: UnitOfWork, manager_id: int, user_id: int | None,
                   user_path: str) -> None:
    if manager_id == user_id:
        raise _invalid("manager_id", "a user cannot manage themself")
    manager, manager_path = _visible_user(unit, manager_id, field="manager_id")
    if not manager.active:
        raise _invalid("manager_id", "the manager is inactive")
    problem = domain.manager_placement_problem(manager_path, user_path)
    if problem:
        raise _invalid("manager_id", problem)
    # Walk up the chain: the user must not end up managing their own manager.
    seen, current = set(), manager
    while current is not None and current.manager_id is not None and len(seen) < 64:
        if current.manager_id == user_id:
            raise _invalid("manager_id", "this would make a management cycle")
        seen.add(current.id)
        current = unit.session.get(User, current.manager_id)


def _check_grants(caller: Caller, roles) -> None:
    problems = domain.grant_problems(caller, roles)
    if problems:
        raise Forbidden("; ".join(problems), {"roles": problems})


def _check_partner_binding(caller: Caller, old: int | None, new: int | None) -> None:
    problem = domain.partner_binding_problem(caller, old, new)
    if problem:
        raise Forbidden(problem, {"partner_id": [problem]})


def create_user(unit: UnitOfWork, data: dict) -> dict:
    caller = unit.caller
    org_unit = _visible_org_unit(unit, data["org_unit_id"], field="org_unit_id")
    if not domain.may_manage_users_at(caller, org_unit.path):
        raise Forbidden("You may not create users in this org unit")
    _check_grants(caller, data["roles"])
    _check_partner_binding(caller, None, data.get("partner_id"))
    if data.get("manager_id"):
        _check_manager(unit, data["manager_id"], None, org_unit.path)
    if data["password"].lower() == data["username"].lower():
        raise _invalid("password", "must differ from the username")
    taken = unit.session.execute(select(User.id).where(
        func.lower(User.username) == data["username"].lower())).first()
    if taken:
        raise Conflict("The username is taken", {"username": ["already taken"]},
                       code="duplicate_username")
    user = User(username=data["username"], display_name=data["display_name"],
                password_hash=hash_password(data["password"]), roles=data["roles"],
                org_unit_id=org_unit.id, manager_id=data.get("manager_id"),
                partner_id=data.get("partner_id"), active=data.get("active", True))
    if "locale" in data:
        user.locale = data["locale"]
    if "time_zone" in data:
        user.time_zone = data["time_zone"]
    unit.session.add(user)
    unit.session.flush()
    unit.session.refresh(user)
    dumped = user_schema.dump(user)
    unit.audit("create", "user", user.id, None, dumped)
    unit.emit("user_created", {"user": dumped, "org_path": org_unit.path})
    return dumped


def get_user(unit: UnitOfWork, user_id: int) -> dict:
    return user_schema.dump(_visible_user(unit, user_id)[0])


def list_users(unit: UnitOfWork, query: dict) -> dict:
    stmt = select(User).join(OrgUnit, OrgUnit.id == User.org_unit_id)
    scope = subtree_filter(OrgUnit.path, unit.caller)
    if scope is not None:
        stmt = stmt.where(or_(scope, User.id == unit.caller.user_id))
    if "org_unit_id" in query:
        stmt = stmt.where(User.org_unit_id == query["org_unit_id"])
    if "role" in query:
        stmt = stmt.where(User.roles.any(query["role"]))
    if "active" in query:
        stmt = stmt.where(User.active.is_(query["active"]))
    if "q" in query:
        pattern = f"%{query['q']}%"
        stmt = stmt.where(or_(User.username.ilike(pattern), User.display_name.ilike(pattern)))
    rows = unit.session.execute(paginate(stmt, User.id, query["limit"],
                                         query["cursor"])).scalars().all()
    return page([user_schema.dump(r) for r in rows], query["limit"])


SELF_SERVICE_FIELDS = {"display_name", "password", "current_password", "locale", "time_zone"}


def update_user(unit: UnitOfWork, user_id: int, data: dict) -> dict:
    caller = unit.caller
    user, user_path = _visible_user(unit, user_id, lock=True)
    is_self = user.id == caller.user_id
    if is_self and not caller.is_admin:
        extra = sorted(set(data) - SELF_SERVICE_FIELDS)
        if extra:
            raise Forbidden("You may change only your own name, password, locale and time zone",
                            {name: ["not yours to change"] for name in extra})
    elif not is_self and not domain.may_manage_user(caller, user_path, user.roles):
        raise Forbidden("You may not change this user")
    if is_self and "password" in data and not verify_password(
            user.password_hash, data.get("current_password") or ""):
        raise _invalid("current_password", "does not match your current password")
    if is_self and data.get("active") is False:
        raise _invalid("active", "you cannot deactivate yourself")
    before = user_schema.dump(user)
    cut_off_reason = None
    if "roles" in data and sorted(data["roles"]) != sorted(user.roles):
        _check_grants(caller, data["roles"])
        user.roles = data["roles"]
        cut_off_reason = "roles changed"
    if "org_unit_id" in data and data["org_unit_id"] != user.org_unit_id:
        target = _visible_org_unit(unit, data["org_unit_id"], field="org_unit_id")
        if not domain.may_manage_users_at(caller, target.path):
            raise Forbidden("You may not move users to that org unit")
        user.org_unit_id, user_path = target.id, target.path
        cut_off_reason = "org unit changed"
    if "manager_id" in data and data["manager_id"] != user.manager_id:
        if data["manager_id"] is not None:
            _check_manager(unit, data["manager_id"], user.id, user_path)
        user.manager_id = data["manager_id"]
    elif "org_unit_id" in data and user.manager_id:
        _check_manager(unit, user.manager_id, user.id, user_path)
    if "partner_id" in data and data["partner_id"] != user.partner_id:
        _check_partner_binding(caller, user.partner_id, data["partner_id"])
        # Tokens carry the partner a repair partner's user acts for.
        cut_off_reason = "partner changed"
    for name in ("display_name", "partner_id", "locale", "time_zone"):
        if name in data:
            setattr(user, name, data[name])
    if "repair_partner" in user.roles and not user.partner_id:
        raise _invalid("partner_id", "a repair_partner user is bound to a partner")
    if "password" in data:
        if data["password"].lower() == user.username.lower():
            raise _invalid("password", "must differ from the username")
        user.password_hash = hash_password(data["password"])
        _revoke_all_sessions(unit, user, "password changed", keep=caller.session_id)
    if "active" in data and data["active"] != user.active:
        user.active = data["active"]
        if not user.active:
            _revoke_all_sessions(unit, user, "deactivated")
            cut_off_reason = "deactivated"
            unit.emit("user_deactivated", {"user_id": user.id})
    if cut_off_reason:
        _cut_off_tokens(unit, user, cut_off_reason)
    unit.session.flush()
    unit.session.refresh(user)
    after = user_schema.dump(user)
    changed_password = "password" in data
    if after != before or changed_password:
        unit.audit("update", "user", user.id, before, after,
                   note="password changed" if changed_password else None)
        unit.emit("user_updated", {"user": after, "org_path": user_path})
    return after


def _revoke_all_sessions(unit: UnitOfWork, user: User, reason: str, keep: str | None = None):
    now = utcnow()
    sessions = unit.session.execute(select(AuthSession).where(
        AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))).scalars().all()
    for session in sessions:
        if session.id != keep:
            _revoke_session(unit, session, now, reason=reason)


def reassign_user_records(unit: UnitOfWork, user_id: int, data: dict) -> dict:
    caller = unit.caller
    user, user_path = _visible_user(unit, user_id, lock=True)
    if not domain.may_manage_user(caller, user_path, user.roles):
        raise Forbidden("You may not reassign this user's records")
    if data["to_user_id"] == user.id:
        raise _invalid("to_user_id", "must be another user")
    target, target_path = _visible_user(unit, data["to_user_id"], field="to_user_id")
    if not target.active:
        raise _invalid("to_user_id", "the user is inactive")
    if not domain.may_manage_users_at(caller, target_path) and target.id != caller.user_id:
        raise Forbidden("You may not hand records to that user")
    # The leaving user's direct reports follow their records to the new owner.
    moved = unit.session.execute(
        update(User).where(User.manager_id == user.id, User.id != target.id)
        .values(manager_id=target.id).returning(User.id)).scalars().all()
    customers = unit.session.execute(
        update(Customer).where(Customer.owner_id == user.id, Customer.status == "active")
        .values(owner_id=target.id).returning(Customer.id)).scalars().all()
    for customer_id in customers:  # read copies (visits) and timelines follow each one
        unit.audit("transfer", "customer", customer_id, {"owner_id": user.id},
                   {"owner_id": target.id}, note="reassigned")
        unit.emit("customer_transferred", {"customer_id": customer_id, "from_owner_id": user.id,
                                           "to_owner_id": target.id})
    unit.audit("reassign", "user", user.id, None,
               {"to_user_id": target.id, "reports": list(moved), "customers": list(customers)})
    event_id = unit.emit("user_records_reassigned", {
        "from_user_id": user.id, "to_user_id": target.id, "to_org_path": target_path})
    return {"from_user_id": user.id, "to_user_id": target.id,
            "reassigned_reports": len(moved), "event_id": event_id}


# --- directory (for other services' read copies) -----------------------------------------
def get_directory_entries(unit: UnitOfWork, data: dict) -> list[dict]:
    """Where each user sits, without scope: other services keep this in their read copy of
    the directory and apply their own scope rules to it. Not routed by the gateway."""
    rows = unit.session.execute(
        select(User, OrgUnit.path).join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.id.in_(data["user_ids"]))).all()
    return [{"id": r.User.id, "display_name": r.User.display_name,
             "org_unit_id": r.User.org_unit_id, "org_path": r.path,
             "manager_id": r.User.manager_id, "roles": list(r.User.roles),
             "active": r.User.active, "locale": r.User.locale,
             "partner_id": r.User.partner_id} for r in rows]


# --- audit ------------------------------------------------------------------------------
def list_audit(unit: UnitOfWork, query: dict) -> dict:
    caller = unit.caller
    if not caller.roles & domain.AUDIT_READERS:
        raise Forbidden("Your role may not read the audit log")
    if query["resource"] == "user":
        _visible_user(unit, query["id"])
    elif query["resource"] == "customer":
        visible_customer(unit, query["id"])
        return audit_page(unit, query, redact=lambda r: mask(
            rules_of(unit), caller, "customer", r))
    else:
        _visible_org_unit(unit, query["id"])
    return audit_page(unit, query)
