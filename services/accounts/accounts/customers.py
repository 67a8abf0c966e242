"""Customers (B2B accounts) and their contacts: create with duplicate detection, read and
change in scope, merge, transfer. Customers are personal records: the owner, the team
members and managing roles above the owner see them; field sales never see each other's.
"""
import base64
import binascii
from datetime import datetime

from eventlet import tpool
from sqlalchemy import func, literal, or_, select, text, update

from accounts import domain
from accounts.customer_file import export_csv, export_xlsx, parse_customers
from accounts.customer_keys import name_key, phone_key, tax_key
from accounts.field_permissions import rules_of
from accounts.models import Contact, Customer, OrgUnit, User
from accounts.schemas import (
    EXPORT_CONTENT_TYPES,
    ContactSchema,
    CustomerSchema,
    DuplicateCandidateSchema,
    TimelineEntrySchema,
)
from accounts.settings import AccountsSettings
from crmkit.database import UnitOfWork, utcnow
from crmkit.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from crmkit.field_rules import check_writable, mask, rule_for
from crmkit.hierarchy import check_parent
from crmkit.pagination import page, paginate
from crmkit.scope import is_within
from crmkit.tables import audit_log
from crmkit.tabular import TableFileError

customer_schema = CustomerSchema()
contact_schema = ContactSchema()
candidate_schema = DuplicateCandidateSchema()
timeline_schema = TimelineEntrySchema()
# Who may not create or change customers at all.
READ_ONLY_ROLES = frozenset({"analyst", "repair_partner"})
# A fuzzy name match at or above this pg_trgm similarity is a likely duplicate.
NAME_SIMILARITY = 0.45


def invalid(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(problem, {field: [problem]})


def _visible_condition(unit: UnitOfWork):
    caller = unit.caller
    if caller.is_admin:
        return None
    own = or_(Customer.owner_id == caller.user_id,
              Customer.team_member_ids.any(caller.user_id))
    if not caller.roles & domain.MANAGING_ROLES or not caller.org_path:
        return own
    below = Customer.owner_id.in_(
        select(User.id).join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(OrgUnit.path.startswith(caller.org_path, autoescape=True)))
    return or_(own, below)


def _scoped(unit: UnitOfWork, stmt):
    condition = _visible_condition(unit)
    return stmt if condition is None else stmt.where(condition)


def visible_customer(unit: UnitOfWork, customer_id: int, *, field: str | None = None,
                     lock: bool = False) -> Customer:
    stmt = _scoped(unit, select(Customer).where(Customer.id == customer_id))
    if lock:
        stmt = stmt.with_for_update()
    customer = unit.session.execute(stmt).scalar_one_or_none()
    if customer is None:
        if field:
            raise invalid(field, "no such customer")
        raise NotFound("No such customer")
    return customer


def _dump(unit: UnitOfWork, customer: Customer) -> dict:
    return mask(rules_of(unit), unit.caller, "customer", customer_schema.dump(customer))


def _require_editor(unit: UnitOfWork, customer: Customer | None = None) -> None:
    caller = unit.caller
    if caller.roles and caller.roles <= READ_ONLY_ROLES:
        raise Forbidden("Your role may not change customers")
    if customer is not None and customer.status == "merged":
        raise Conflict("The customer was merged into another", {"id": ["merged"]},
                       code="customer_merged")


def _check_owner(unit: UnitOfWork, owner_id: int, field: str = "owner_id") -> User:
    """Your own, or (managing roles) someone active in your subtree."""
    caller = unit.caller
    row = unit.session.execute(select(User, OrgUnit.path).join(
        OrgUnit, OrgUnit.id == User.org_unit_id).where(User.id == owner_id)).first()
    if row is None or not row.User.active:
        raise invalid(field, "no such active user")
    if owner_id != caller.user_id and not caller.is_admin and not (
            caller.roles & domain.MANAGING_ROLES and is_within(row.path, caller.org_path)):
        raise Forbidden("You may hand customers only to people in your subtree",
                        {field: ["outside your subtree"]})
    return row.User


def _check_team(unit: UnitOfWork, member_ids: list[int]) -> None:
    """Team members are active people the caller can see (their own subtree), never partner
    users: sharing a record must not carry it into a sibling region or outside the company."""
    if not member_ids:
        return
    caller = unit.caller
    rows = unit.session.execute(
        select(User.id, User.roles, OrgUnit.path).join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.id.in_(member_ids), User.active.is_(True))).all()
    allowed = {r.id for r in rows if "repair_partner" not in r.roles
               and (caller.is_admin or is_within(r.path, caller.org_path))}
    refused = [m for m in member_ids if m not in allowed]
    if refused:
        raise invalid("team_member_ids", f"no such active users in your scope: {refused[:10]}")


def _check_parent(unit: UnitOfWork, customer_id: int | None, parent_id: int) -> None:
    check_parent(unit, Customer, customer_id,
                 visible_customer(unit, parent_id, field="parent_id"), "customer")


def _keys(data: dict) -> dict:
    keys = {}
    if "name" in data:
        keys["name_key"] = name_key(data["name"])
    if "phone" in data:
        keys["phone_key"] = phone_key(data["phone"])
    if "tax_id" in data:
        keys["tax_key"] = tax_key(data["tax_id"])
    return keys


def _next_code(unit: UnitOfWork, settings: AccountsSettings) -> str:
    seq = unit.session.execute(text("SELECT nextval('customer_code_seq')")).scalar_one()
    now = utcnow()
    return settings.customer_code_pattern.format(seq=seq, yyyy=now.year, mm=f"{now.month:02d}")


# --- duplicates -------------------------------------------------------------------------
def _use_similarity_threshold(unit: UnitOfWork) -> None:
    """The `%` operator (the one the trigram index serves) matches at this threshold."""
    unit.session.execute(text("SELECT set_config('pg_trgm.similarity_threshold', :t, true)"),
                         {"t": str(NAME_SIMILARITY)})


def find_duplicates(unit: UnitOfWork, name: str | None, phone: str | None,
                    tax_id: str | None, limit: int = 10) -> list:
    """Candidates by exact tax id, normalised phone, or trigram similarity of the
    normalised name, best first. All customers count (a duplicate hides in another
    region as well); the caller sees the details only of those in their scope."""
    nkey, pkey, tkey = name_key(name or ""), phone_key(phone), tax_key(tax_id)
    matches = []
    if len(nkey) >= 2:
        matches.append(Customer.name_key.op("%")(nkey))  # trigram index
    if pkey:
        matches.append(Customer.phone_key == pkey)
    if tkey:
        matches.append(Customer.tax_key == tkey)
    if not matches:
        return []
    if len(nkey) >= 2:
        name_score = func.similarity(Customer.name_key, nkey)
        order = (name_score.desc(), Customer.id)
    else:
        name_score, order = literal(0.0), (Customer.id,)  # a constant cannot be ordered by
    stmt = (select(Customer, name_score.label("name_score"))
            .where(or_(*matches), Customer.status == "active")
            .order_by(*order).limit(limit * 3))
    _use_similarity_threshold(unit)
    visible_ids = set()
    rows = unit.session.execute(stmt).all()
    if rows:
        visible_ids = set(unit.session.execute(_scoped(unit, select(Customer.id).where(
            Customer.id.in_([r.Customer.id for r in rows])))).scalars())
    found = []
    for row in rows:
        customer, reasons = row.Customer, []
        if tkey and customer.tax_key == tkey:
            reasons.append("tax_id")
        if pkey and customer.phone_key == pkey:
            reasons.append("phone")
        if row.name_score >= NAME_SIMILARITY:
            reasons.append("name")
        if not reasons:
            continue
        score = max(row.name_score, 1.0 if "tax_id" in reasons else 0.0,
                    0.9 if "phone" in reasons else 0.0)
        # Saying which masked or hidden value matched would let it be guessed digit by digit.
        reasons = list(dict.fromkeys(
            r if r == "name" or rule_for(rules_of(unit), unit.caller, "customer", r) is None
            else "other" for r in reasons))
        seen = customer.id in visible_ids
        found.append(candidate_schema.dump({
            "id": customer.id, "code": customer.code if seen else None,
            "name": customer.name if seen else None, "score": round(score, 3),
            "reasons": reasons, "visible": seen}))
    found.sort(key=lambda c: -c["score"])
    return found[:limit]


def duplicates(unit: UnitOfWork, query: dict) -> dict:
    return {"items": find_duplicates(unit, query.get("name"), query.get("phone"),
                                     query.get("tax_id"), query["limit"]),
            "next_cursor": None}


# --- create, read, change ---------------------------------------------------------------
def create_customer(unit: UnitOfWork, settings: AccountsSettings, data: dict,
                    options: dict) -> dict:
    _require_editor(unit)
    owner_id = data.pop("owner_id", unit.caller.user_id)
    _check_owner(unit, owner_id)
    _check_team(unit, data.get("team_member_ids", []))
    check_writable(rules_of(unit), unit.caller, "customer",
                   {k: v for k, v in data.items() if v is not None})
    if data.get("parent_id"):
        _check_parent(unit, None, data["parent_id"])
    if not options.get("allow_duplicate"):
        candidates = find_duplicates(unit, data["name"], data.get("phone"),
                                     data.get("tax_id"), limit=5)
        if candidates:
            raise Conflict("A customer like this exists; confirm with allow_duplicate=true",
                           {"name": ["likely duplicate"]}, code="duplicate_suspected",
                           details={"candidates": candidates})
    customer = Customer(**data, **_keys(data), owner_id=owner_id,
                        code=_next_code(unit, settings))
    unit.session.add(customer)
    unit.session.flush()
    unit.session.refresh(customer)
    dumped = customer_schema.dump(customer)
    unit.audit("create", "customer", customer.id, None, dumped)
    unit.emit("customer_created", {"customer": dumped})
    return _dump(unit, customer)


def get_customer(unit: UnitOfWork, customer_id: int) -> dict:
    return _dump(unit, visible_customer(unit, customer_id))


def list_customers(unit: UnitOfWork, query: dict) -> dict:
    stmt = _scoped(unit, select(Customer))
    for name in ("owner_id", "parent_id", "type", "grade"):
        if name in query:
            stmt = stmt.where(getattr(Customer, name) == query[name])
    stmt = stmt.where(Customer.status == query.get("status", "active"))
    if "q" in query:
        pattern = f"%{query['q']}%"
        stmt = stmt.where(or_(Customer.name.ilike(pattern), Customer.code.ilike(pattern)))
    rows = unit.session.execute(paginate(stmt, Customer.id, query["limit"],
                                         query["cursor"])).scalars().all()
    return page([_dump(unit, r) for r in rows], query["limit"])


def update_customer(unit: UnitOfWork, customer_id: int, data: dict) -> dict:
    customer = visible_customer(unit, customer_id, lock=True)
    _require_editor(unit, customer)
    # Every submitted field, changed or not: a 200 for the right value of a hidden field
    # and a 403 for a wrong one would tell the caller what it holds.
    check_writable(rules_of(unit), unit.caller, "customer", data)
    changed = {k: v for k, v in data.items() if getattr(customer, k) != v}
    if "team_member_ids" in changed:
        _check_team(unit, changed["team_member_ids"])
    if changed.get("parent_id"):
        _check_parent(unit, customer.id, changed["parent_id"])
    if not changed:
        return _dump(unit, customer)
    before = customer_schema.dump(customer)
    for name, value in {**changed, **_keys(changed)}.items():
        setattr(customer, name, value)
    unit.session.flush()
    unit.session.refresh(customer)
    after = customer_schema.dump(customer)
    unit.audit("update", "customer", customer.id, before, after)
    unit.emit("customer_updated", {"customer": after, "changed": sorted(changed)})
    return _dump(unit, customer)


def transfer_customer(unit: UnitOfWork, customer_id: int, data: dict) -> dict:
    customer = visible_customer(unit, customer_id, lock=True)
    _require_editor(unit, customer)
    caller = unit.caller
    if not caller.is_admin and not caller.roles & domain.MANAGING_ROLES:
        raise Forbidden("Only a manager transfers customers")
    if data["owner_id"] == customer.owner_id:
        raise invalid("owner_id", "already the owner")
    _check_owner(unit, data["owner_id"])
    before = customer.owner_id
    customer.owner_id = data["owner_id"]
    unit.session.flush()
    unit.audit("transfer", "customer", customer.id, {"owner_id": before},
               {"owner_id": customer.owner_id}, note=data.get("note"))
    unit.emit("customer_transferred", {"customer_id": customer.id, "from_owner_id": before,
                                       "to_owner_id": customer.owner_id})
    return _dump(unit, customer)


def merge_customers(unit: UnitOfWork, target_id: int, data: dict) -> dict:
    """The source's contacts, team members, children and history move to the target; the
    source answers as merged; other services repoint their references on the event."""
    if data["source_id"] == target_id:
        raise invalid("source_id", "a customer cannot merge into itself")
    # Lock both in id order so two opposite merges cannot deadlock.
    first, second = sorted((target_id, data["source_id"]))
    locked = {c.id: c for c in (visible_customer(unit, first, lock=True,
                                                 field="source_id" if first != target_id
                                                 else None),
                                visible_customer(unit, second, lock=True,
                                                 field="source_id" if second != target_id
                                                 else None))}
    target, source = locked[target_id], locked[data["source_id"]]
    _require_editor(unit, target)
    _require_editor(unit, source)
    caller = unit.caller
    owns_both = caller.user_id == target.owner_id == source.owner_id
    if not (caller.is_admin or caller.roles & domain.MANAGING_ROLES or owns_both):
        raise Forbidden("Merge customers you own, or as a manager of both owners")
    moved_contacts = unit.session.execute(
        update(Contact).where(Contact.customer_id == source.id)
        .values(customer_id=target.id).returning(Contact.id)).scalars().all()
    if target.parent_id == source.id:  # the target was the source's subsidiary
        target.parent_id = source.parent_id
    unit.session.execute(update(Customer).where(Customer.parent_id == source.id,
                                                Customer.id != target.id)
                         .values(parent_id=target.id))
    if target.parent_id is not None:
        check_parent(unit, Customer, target.id, unit.session.get(Customer, target.parent_id),
                     "customer")
    members = [m for m in [*target.team_member_ids, source.owner_id, *source.team_member_ids]
               if m != target.owner_id]
    target.team_member_ids = list(dict.fromkeys(members))
    for name in ("phone", "tax_id", "address", "industry", "grade"):
        if getattr(target, name) is None and getattr(source, name) is not None:
            setattr(target, name, getattr(source, name))
    target.phone_key, target.tax_key = phone_key(target.phone), tax_key(target.tax_id)
    source.status, source.merged_into_id = "merged", target.id
    unit.session.flush()
    unit.audit("merge", "customer", target.id, None,
               {"source_id": source.id, "contacts": len(moved_contacts)})
    unit.audit("merged_into", "customer", source.id, None, {"target_id": target.id})
    unit.emit("customer_merged", {"source_id": source.id, "target_id": target.id})
    unit.emit("customer_updated", {"customer": customer_schema.dump(target),
                                   "changed": ["team_member_ids"]})
    return _dump(unit, target)


# --- contacts ---------------------------------------------------------------------------
def add_contact(unit: UnitOfWork, customer_id: int, data: dict) -> dict:
    customer = visible_customer(unit, customer_id, lock=True)
    _require_editor(unit, customer)
    contact = Contact(customer_id=customer.id, **data)
    unit.session.add(contact)
    unit.session.flush()
    unit.session.refresh(contact)
    dumped = contact_schema.dump(contact)
    unit.audit("add_contact", "customer", customer.id, None, dumped)
    return mask(rules_of(unit), unit.caller, "contact", dumped)


def list_contacts(unit: UnitOfWork, customer_id: int, query: dict) -> dict:
    customer = visible_customer(unit, customer_id)
    rows = unit.session.execute(paginate(
        select(Contact).where(Contact.customer_id == customer.id), Contact.id,
        query["limit"], query["cursor"])).scalars().all()
    rules = rules_of(unit)
    return page([mask(rules, unit.caller, "contact", contact_schema.dump(r)) for r in rows],
                query["limit"])


# --- timeline ---------------------------------------------------------------------------
TIMELINE_LIMIT = 200


def timeline(unit: UnitOfWork, customer_id: int, visits_of) -> dict:
    """The customer's history, newest first: its changes (audit log: creation, edits,
    merges, transfers, contacts) and its visits, asked of the visits service with the
    caller's scope (`visits_of(customer_id)`). Visits being unreachable makes the answer
    `partial`, not an error."""
    customer = visible_customer(unit, customer_id)
    rows = unit.session.execute(select(audit_log).where(
        audit_log.c.resource == "customer", audit_log.c.resource_id == str(customer.id))
        .order_by(audit_log.c.id.desc()).limit(TIMELINE_LIMIT)).all()
    rules = rules_of(unit)
    # Contacts' and customers' snapshots pass the caller's field rules like any read.
    entries = [{"at": r.at, "kind": r.action, "source": "accounts", "actor_id": r.actor_id,
                "summary": f"customer {r.action}",
                "data": {"after": mask(rules, unit.caller,
                                       "contact" if r.action == "add_contact" else "customer",
                                       r.after) if isinstance(r.after, dict) else r.after}}
               for r in rows]
    partial = False
    try:
        for visit in visits_of(customer.id):
            at = visit.get("check_out_at") or visit.get("check_in_at") or visit["planned_at"]
            entries.append({"at": datetime.fromisoformat(at), "kind": f"visit_{visit['status']}",
                            "source": "visits", "actor_id": visit["user_id"],
                            "summary": f"visit {visit['id']} {visit['status']}",
                            "data": visit})
    except ServiceUnavailable:
        partial = True
    entries.sort(key=lambda e: e["at"], reverse=True)
    return {"items": [timeline_schema.dump(e) for e in entries[:TIMELINE_LIMIT]],
            "next_cursor": None, "partial": partial}


# --- import and export ------------------------------------------------------------------
def _file_duplicates(unit: UnitOfWork, rows: list) -> list[dict]:
    """Rows that repeat each other (same normalised name or tax id) or match a customer
    already there (tax id, phone, or a name at the similarity threshold): one query for
    the whole file."""
    problems, seen_names, seen_taxes = [], {}, {}
    for number, customer, _ in rows:
        nkey, tkey = name_key(customer["name"]), tax_key(customer.get("tax_id"))
        if nkey in seen_names:
            problems.append({"row": number, "field": "name",
                             "message": f"same customer as row {seen_names[nkey]}"})
        seen_names.setdefault(nkey, number)
        if tkey and tkey in seen_taxes:
            problems.append({"row": number, "field": "tax_id",
                             "message": f"same tax id as row {seen_taxes[tkey]}"})
        if tkey:
            seen_taxes.setdefault(tkey, number)
    keys = [(n, name_key(c["name"]), phone_key(c.get("phone")), tax_key(c.get("tax_id")))
            for n, c, _ in rows]
    _use_similarity_threshold(unit)
    matches = unit.session.execute(text("""
        SELECT f.row, f.nkey, c.id, c.name_key % f.nkey AS by_name,
               c.phone_key = f.pkey AS by_phone, c.tax_key = f.tkey AS by_tax
        FROM unnest(CAST(:rows AS int[]), CAST(:nkeys AS text[]), CAST(:pkeys AS text[]),
                    CAST(:tkeys AS text[])) AS f(row, nkey, pkey, tkey)
        JOIN customers c ON c.status = 'active'
         AND (c.name_key % f.nkey OR c.phone_key = f.pkey OR c.tax_key = f.tkey)
    """), {"rows": [k[0] for k in keys], "nkeys": [k[1] for k in keys],
           "pkeys": [k[2] for k in keys], "tkeys": [k[3] for k in keys]}).all()
    reported = set()
    for match in matches:
        field = "tax_id" if match.by_tax else "phone" if match.by_phone else "name"
        if (match.row, field) not in reported:
            reported.add((match.row, field))
            problems.append({"row": match.row, "field": field,
                             "message": f"likely duplicate of customer {match.id}"})
    return problems


def import_customers(unit: UnitOfWork, settings: AccountsSettings, data: dict,
                     options: dict) -> dict:
    """All or nothing: every problem of every row is reported (400 with `errors`), or
    every row becomes a customer (with its contact)."""
    _require_editor(unit)
    try:
        content = base64.b64decode(data["content_base64"], validate=True)
        rows, errors, total = tpool.execute(parse_customers, content, data.get("filename"))
    except (binascii.Error, ValueError):
        raise invalid("file", "the upload is not valid base64") from None
    except TableFileError as exc:
        raise invalid("file", exc.message) from None
    owners = {c.get("owner_id", unit.caller.user_id) for _, c, _ in rows}
    for owner_id in owners:
        try:
            _check_owner(unit, owner_id)
        except (ValidationFailed, Forbidden) as exc:
            errors += [{"row": n, "field": "owner_id", "message": exc.message}
                       for n, c, _ in rows if c.get("owner_id", unit.caller.user_id) == owner_id]
    rules = rules_of(unit)
    for number, values, _ in rows:
        try:
            check_writable(rules, unit.caller, "customer", values)
        except Forbidden as exc:
            errors += [{"row": number, "field": f, "message": "read-only for your role"}
                       for f in exc.fields]
    if not options.get("allow_duplicate"):
        errors += _file_duplicates(unit, rows)
    if errors:
        errors.sort(key=lambda e: (e["row"], e["field"]))
        raise ValidationFailed(f"{len({e['row'] for e in errors})} of {total} rows have "
                               "problems; nothing was imported", {"file": ["see errors"]},
                               details={"errors": errors[:1000], "error_count": len(errors)})
    created = []
    for _, values, contact in rows:
        owner_id = values.pop("owner_id", unit.caller.user_id)
        customer = Customer(**values, **_keys(values), owner_id=owner_id,
                            code=_next_code(unit, settings))
        unit.session.add(customer)
        created.append((customer, contact))
    unit.session.flush()
    for customer, contact in created:
        if contact:
            unit.session.add(Contact(customer_id=customer.id, **contact))
        unit.emit("customer_created", {"customer": customer_schema.dump(customer)})
    unit.audit("import", "customer_import", data.get("filename") or "upload", None,
               {"imported": len(created), "ids": [c.id for c, _ in created][:1000]})
    return {"total": total, "imported": len(created), "errors": []}


EXPORT_LIMIT = 50_000


def export_customers(unit: UnitOfWork, query: dict) -> dict:
    """The caller's customers as a file, field rules applied (masked stays masked)."""
    stmt = _scoped(unit, select(Customer).where(Customer.status == "active")) \
        .order_by(Customer.id).limit(EXPORT_LIMIT)
    records = [_dump(unit, c) for c in unit.session.execute(stmt).scalars()]
    # Up to EXPORT_LIMIT rows of workbook: seconds of CPU that would stall logins and
    # every other call of this process if the hub ran it; a thread of its own does not.
    content = tpool.execute(export_xlsx if query["format"] == "xlsx" else export_csv, records)
    return {"filename": f"customers.{query['format']}",
            "content_type": EXPORT_CONTENT_TYPES[query["format"]],
            "content_base64": base64.b64encode(content).decode("ascii")}
