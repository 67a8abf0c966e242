"""The documented authorisation rules of every gateway operation, as a table.

Each entry names an operation (method, path template) of the gateway's OpenAPI, the kind of
record it acts on (None: no record, one case per role), who may call it, and how to call
it harmlessly. The rules are written from mission.md and api.md ("data scope follows the
tree; nobody sees a sibling region's data", personal vs operational vs service records,
no skip-level commands, field masking), not copied from the code: the matrix test compares
the two. Where the code is stricter than the documents (and that is safe) the rule says so.

Words used below:
  c  the caller (a `Who`): role, id, org path, manager, partner
  t  the target (a `Who` too: the record's owner, or the unit/user itself), or None
"""
from collections.abc import Callable
from dataclasses import dataclass, field

MANAGING = frozenset({"admin", "vp", "hq_head", "region_manager"})
MAINTAINERS = MANAGING | {"channel_owner"}
DESK = frozenset({"admin", "vp", "hq_head", "service_agent"})
SERVICE_READERS = DESK | {"analyst"}
KEEPERS = frozenset({"admin", "hq_head"})
READ_ONLY_CUSTOMER_ROLES = frozenset({"analyst", "repair_partner"})
RANK = {"admin": 100, "vp": 80, "hq_head": 60, "region_manager": 40}

ROLES = ("admin", "vp", "hq_head", "region_manager", "channel_owner", "field_sales",
         "service_agent", "repair_partner", "analyst")
PLACES = ("own", "subtree", "sibling")


@dataclass
class Who:
    """A person (caller or a record's owner) as the rules see them."""
    role: str
    id: int
    path: str                       # org path of their unit
    manager_id: int | None = None
    chain: tuple = ()               # managers up the chain, nearest first
    partner_id: int | None = None
    slot: str | None = None
    team: tuple = ()                # team members of the target record (customers)
    unit_path: str | None = None    # for org-unit targets: the unit's own path
    rec: dict = field(default_factory=dict)  # the target record (ids the call needs)


def within(path, root) -> bool:
    return bool(path) and bool(root) and path.startswith(root)


def admin(c, t=None) -> bool:
    return c.role == "admin"


def anyone(c, t=None) -> bool:
    return True


def role_in(roles):
    return lambda c, t=None: c.role in roles


# --- the documented visibility rules ---------------------------------------------------
def operational(c, t) -> bool:
    """Partners, stores, forms, plans: the owner's unit and everyone above it."""
    return admin(c) or within(t.path, c.path)


def personal(c, t) -> bool:
    """Customers, contacts, visits: the owner, team members, managers above the owner.
    (The code reads "managers" as the managing roles; a channel owner who is someone's
    direct manager does not see their customers and visits: stricter than mission.md.)"""
    return admin(c) or c.id == t.id or c.id in t.team or \
        (c.role in MANAGING and within(t.path, c.path))


def service(c, t) -> bool:
    """Consumers, products, tickets, parts orders: the desk, HQ, the VP, analysts; a repair
    partner only what is its own."""
    return c.role in SERVICE_READERS or (c.role == "repair_partner" and
                                          t.partner_id == c.partner_id)


def sees_user(c, t) -> bool:
    return admin(c) or c.id == t.id or within(t.path, c.path)


def sees_unit(c, t) -> bool:
    """One's subtree and the chain above one's own unit."""
    return admin(c) or within(t.unit_path, c.path) or within(c.path, t.unit_path)


def lists_unit(c, t) -> bool:
    return admin(c) or within(t.unit_path, c.path)


def direct(c, t) -> bool:
    """No skip-level commands: oneself or a direct report."""
    return c.id == t.id or t.manager_id == c.id


def manages_user(c, t) -> bool:
    return admin(c) or (c.role in MANAGING and within(t.path, c.path) and c.id != t.id
                        and RANK.get(t.role, 10) < RANK.get(c.role, 10))


def customer_editor(c, t) -> bool:
    return personal(c, t) and c.role not in READ_ONLY_CUSTOMER_ROLES


def maintains(c, t) -> bool:
    """Change a partner, store or plan: managers in scope, channel owners their own."""
    return operational(c, t) and (c.role in MANAGING or
                                  (c.role == "channel_owner" and c.id == t.id))


def fills_form(c, t) -> bool:
    """A draft form: its owner, its creator (admin here) or a manager in scope."""
    return operational(c, t) and (c.id == t.id or c.role in MANAGING)


def reviews_form(c, t) -> bool:
    """A manager above the submitter (its chain, or a unit strictly above), never the
    submitter; admins review anything."""
    if not operational(c, t) or c.role not in MANAGING or c.id == t.id:
        return False
    return admin(c) or c.id in t.chain or (within(t.path, c.path) and t.path != c.path)


def plan_visible(c, t) -> bool:
    return operational(c, t)


def works_on_plan(c, t) -> bool:
    return plan_visible(c, t) and (c.id == t.id or c.role in MANAGING)


def adds_collaborator(c, t) -> bool:
    return plan_visible(c, t) and (c.id == t.id or (c.role in MANAGING
                                                    and within(t.path, c.path)))


def assigns_form(c, t) -> bool:
    """A form goes to the partner's owner: the creator's direct report (admins exempt)."""
    return c.role in MANAGING and operational(c, t) and (admin(c) or direct(c, t))


def assigns_plan(c, t) -> bool:
    return c.role in MAINTAINERS and operational(c, t) and (admin(c) or direct(c, t))


def plans_visit(c, t) -> bool:
    """A visit for oneself or a direct report, to a store one sees; admins are no
    exception here (the visits service applies the rule to everyone)."""
    return direct(c, t) and operational(c, t)


def sets_target(c, t) -> bool:
    """Only the direct manager (admins exempt); not one's own."""
    return admin(c) or t.manager_id == c.id


def sees_trajectory(c, t) -> bool:
    return admin(c) or c.id == t.id or c.id in t.chain


def sees_import(c, t) -> bool:
    return c.id == t.id or (c.role in MANAGING and sees_user(c, t))


def sees_submission(c, t) -> bool:
    """Sent by you or to you (your direct report's): never skip-level."""
    return c.id == t.id or c.id == t.manager_id


def own_only(c, t) -> bool:
    return c.id == t.id


def may_register(c, t=None) -> bool:
    return c.role in DESK or c.role == "repair_partner"


def orders_for(c, t) -> bool:
    return c.role in DESK or (c.role == "repair_partner" and t.partner_id == c.partner_id)


def audit_reader(c, t) -> bool:
    return c.role in MANAGING and sees_user(c, t)


# --- field-level masking -----------------------------------------------------------------
def masked(value) -> bool:
    return isinstance(value, str) and "*" in value


def customer_fields(c, t, body) -> str | None:
    """analyst: phone and tax id masked; service agent: tax id hidden."""
    if c.role == "analyst" and not (masked(body.get("phone")) and masked(body.get("tax_id"))):
        return "an analyst must get the customer's phone and tax id masked"
    if c.role == "service_agent" and "tax_id" in body:
        return "a service agent must not get the tax id"
    if c.role not in ("analyst",) and masked(body.get("phone")):
        return "the phone must be in clear for this role"
    return None


def contact_fields(c, t, body) -> str | None:
    for item in body["items"]:
        for name in ("phone", "email"):
            if item.get(name) is not None and masked(item[name]) != (c.role == "analyst"):
                return f"contacts' {name}: masked for analysts only"
    return None


def partner_fields(c, t, body) -> str | None:
    hidden = c.role in ("field_sales", "service_agent", "repair_partner")
    if hidden == ("credit_limit" in body):
        return f"credit_limit {'hidden' if hidden else 'shown'} expected for {c.role}"
    return None


def consumer_fields(c, t, body) -> str | None:
    """Consumers' phones: in clear for the desk and the repairing partner, masked for
    analysts."""
    if (c.role == "analyst") != masked(body.get("phone")):
        return f"the consumer's phone is {'not ' if c.role == 'analyst' else ''}masked"
    return None


# --- the table -----------------------------------------------------------------------------
@dataclass
class Op:
    method: str
    path: str
    kind: str | None          # the world's record kind the path/body/list refers to
    rule: Callable            # (c, t) -> bool: allowed?  For lists: listed?
    call: Callable | None     # (w, c, t, fresh) -> request dict (path, json, params, files)
    ok: tuple = (200, 201, 202)
    # The record is named in the body or query: out of scope may be a 400 on that field.
    body_ref: bool = False
    # For lists: who may call the list at all (others get 403).
    lister: Callable = anyone
    fresh: Callable | None = None   # (w, c, t) -> dict made before the call (per case)
    refusals: tuple = ()            # statuses that also refuse, beside 403 and 404
    check: Callable | None = None   # (c, t, body) -> problem or None, on allowed answers
    # Why it is not exercised here (public routes); the classification still counts.
    exempt: str | None = None
    places: tuple = PLACES
    notes: str = ""
    extra: dict = field(default_factory=dict)


def R(path, **kw):
    return dict(path=path, **kw)


def rid(t):
    return t.rec["id"]


SAME = "unchanged"   # PATCH bodies repeat a stored value: authorised, and changes nothing

OPS = [
    # identity
    Op("POST", "/auth/token", None, anyone, None, exempt="public: the login itself"),
    Op("POST", "/auth/refresh", None, anyone, None, exempt="public: takes a refresh token"),
    Op("POST", "/auth/logout", None, anyone, lambda w, c, t, f: R(
        "/auth/logout", headers=f["headers"]), fresh=lambda w, c, t: {
        "headers": w.fresh_login(c)}, notes="a fresh session per case"),
    Op("GET", "/me", None, anyone, lambda w, c, t, f: R("/me")),
    Op("POST", "/org-units", "unit", lambda c, t: c.role in MANAGING and within(
        t.unit_path, c.path) or admin(c), lambda w, c, t, f: R("/org-units", json={
            "name": w.uid("组"), "kind": "team", "parent_id": rid(t)}), body_ref=True),
    Op("GET", "/org-units", "unit", lists_unit, lambda w, c, t, f: R(
        "/org-units", params={"parent_id": t.rec["parent_id"]})),
    Op("GET", "/org-units/{org_unit_id}", "unit", sees_unit, lambda w, c, t, f: R(
        f"/org-units/{rid(t)}")),
    Op("PATCH", "/org-units/{org_unit_id}", "unit", lambda c, t: admin(c) or (
        c.role in MANAGING and within(t.unit_path, c.path) and t.unit_path != c.path),
        lambda w, c, t, f: R(f"/org-units/{rid(t)}", json={"name": t.rec["name"]}),
        notes="managers change units below their own, never their own"),
    Op("POST", "/users", "unit", lambda c, t: admin(c) or (
        c.role in MANAGING and within(t.unit_path, c.path)), lambda w, c, t, f: R(
        "/users", json={"username": w.uid("u"), "password": w.password,
                        "display_name": "新人", "roles": ["field_sales"],
                        "org_unit_id": rid(t)}), body_ref=True),
    Op("GET", "/users", "user", sees_user, lambda w, c, t, f: R(
        "/users", params={"q": t.rec["username"]})),
    Op("GET", "/users/{user_id}", "user", sees_user, lambda w, c, t, f: R(
        f"/users/{t.id}")),
    Op("PATCH", "/users/{user_id}", "user", lambda c, t: c.id == t.id or manages_user(c, t),
       lambda w, c, t, f: R(f"/users/{t.id}", json={"display_name": t.rec["display_name"]})),
    Op("POST", "/users/{user_id}/reassign", "user", lambda c, t: sees_user(c, t) and (
        admin(c) or manages_user(c, t)), lambda w, c, t, f: R(
        f"/users/{t.id}/reassign", json={"to_user_id": t.id}), ok=(400,),
        notes="handing records to the user themself: allowed callers reach the 400 on "
              "to_user_id, so nothing moves"),
    # customers
    Op("POST", "/customers", "user", lambda c, t: c.role not in READ_ONLY_CUSTOMER_ROLES and (
        c.id == t.id or admin(c) or (c.role in MANAGING and within(t.path, c.path))),
        lambda w, c, t, f: R("/customers", params={"allow_duplicate": "true"}, json={
            "name": w.uid("客户"), "owner_id": t.id}), body_ref=True),
    Op("GET", "/customers", "customer", personal, lambda w, c, t, f: R(
        "/customers", params={"q": t.rec["code"]})),
    Op("POST", "/customers/import", None, lambda c, t=None: c.role not in
       READ_ONLY_CUSTOMER_ROLES, lambda w, c, t, f: R(
        "/customers/import", params={"allow_duplicate": "true"}, files={"file": (
            "c.csv", f"name,phone\n{w.uid('导入客户')},1390000{w.n() % 10000:04d}\n"
            .encode(), "text/csv")})),
    Op("GET", "/customers/export", None, anyone, lambda w, c, t, f: R("/customers/export")),
    Op("GET", "/customers/duplicates", None, anyone, lambda w, c, t, f: R(
        "/customers/duplicates", params={"name": "客户"})),
    Op("GET", "/customers/{customer_id}", "customer", personal, lambda w, c, t, f: R(
        f"/customers/{rid(t)}"), check=customer_fields),
    Op("PATCH", "/customers/{customer_id}", "customer", customer_editor,
       lambda w, c, t, f: R(f"/customers/{rid(t)}", json={"name": t.rec["name"]})),
    Op("POST", "/customers/{customer_id}/merge", "customer", lambda c, t: customer_editor(
        c, t) and (c.role in MANAGING or c.id == t.id), lambda w, c, t, f: R(
        f"/customers/{rid(t)}/merge", json={"source_id": f["source_id"]}),
        fresh=lambda w, c, t: {"source_id": w.customer_like(t)},
        notes="a fresh source customer (same owner and team) per case"),
    Op("POST", "/customers/{customer_id}/transfer", "customer", lambda c, t: customer_editor(
        c, t) and c.role in MANAGING, lambda w, c, t, f: R(
        f"/customers/{rid(t)}/transfer", json={"owner_id": t.id}), ok=(400,),
        notes="to the current owner: allowed callers reach the 400 on owner_id"),
    Op("POST", "/customers/{customer_id}/contacts", "customer", customer_editor,
       lambda w, c, t, f: R(f"/customers/{rid(t)}/contacts", json={"name": "联系人"})),
    Op("GET", "/customers/{customer_id}/contacts", "customer", personal,
       lambda w, c, t, f: R(f"/customers/{rid(t)}/contacts"), check=contact_fields),
    Op("GET", "/customers/{customer_id}/timeline", "customer", personal,
       lambda w, c, t, f: R(f"/customers/{rid(t)}/timeline")),
    Op("GET", "/field-permissions", None, anyone, lambda w, c, t, f: R("/field-permissions")),
    Op("PUT", "/field-permissions", None, admin, lambda w, c, t, f: R(
        "/field-permissions", json={"items": [{"role": "analyst", "resource": "customer",
                                               "field": "phone", "rule": "masked"}]}),
        notes="re-sets a rule to its shipped value"),
    Op("GET", "/audit", "user", audit_reader, lambda w, c, t, f: R(
        "/audit", params={"resource": "user", "id": t.id}), body_ref=True,
        extra={"not_a_list": True}),
    # partners
    Op("POST", "/partners", "user", lambda c, t: c.role in MAINTAINERS and (
        c.id == t.id or (c.role in MANAGING and sees_user(c, t))), lambda w, c, t, f: R(
        "/partners", json={"code": w.uid("P"), "name": "渠道商", "kind": "chain",
                           "owner_id": t.id}), body_ref=True,
        notes="channel owners own what they create; managers give it to their subtree"),
    Op("GET", "/partners", "partner", operational, lambda w, c, t, f: R(
        "/partners", params={"q": t.rec["code"]})),
    Op("GET", "/partners/{partner_id}", "partner", operational, lambda w, c, t, f: R(
        f"/partners/{rid(t)}"), check=partner_fields),
    Op("PATCH", "/partners/{partner_id}", "partner", maintains, lambda w, c, t, f: R(
        f"/partners/{rid(t)}", json={"name": t.rec["name"]})),
    Op("GET", "/partners/{partner_id}/history", "partner", operational,
       lambda w, c, t, f: R(f"/partners/{rid(t)}/history")),
    # stores
    Op("POST", "/stores", "partner", lambda c, t: c.role in MAINTAINERS and operational(c, t),
       lambda w, c, t, f: R("/stores", json={"code": w.uid("S"), "name": "门店",
                                             "partner_id": rid(t)}), body_ref=True),
    Op("GET", "/stores", "store", operational, lambda w, c, t, f: R(
        "/stores", params={"partner_id": t.rec["partner_id"]})),
    Op("GET", "/stores/{store_id}", "store", operational, lambda w, c, t, f: R(
        f"/stores/{rid(t)}")),
    Op("PATCH", "/stores/{store_id}", "store", maintains, lambda w, c, t, f: R(
        f"/stores/{rid(t)}", json={"name": t.rec["name"]})),
    Op("POST", "/stores/import", None, role_in(MAINTAINERS), lambda w, c, t, f: R(
        "/stores/import", files={"file": ("s.csv", w.store_csv(), "text/csv")})),
    Op("GET", "/imports/{import_id}", "import", sees_import, lambda w, c, t, f: R(
        f"/imports/{rid(t)}")),
    # inspection forms
    Op("POST", "/inspections", "partner", assigns_form, lambda w, c, t, f: R(
        "/inspections", json={"partner_id": rid(t), "month": w.month()}), body_ref=True,
        notes="the form goes to the partner's owner: skip-level is refused"),
    Op("GET", "/inspections", "inspection", operational, lambda w, c, t, f: R(
        "/inspections", params={"partner_id": t.rec["partner_id"]})),
    Op("GET", "/inspections/{inspection_id}", "inspection", operational,
       lambda w, c, t, f: R(f"/inspections/{rid(t)}")),
    Op("PATCH", "/inspections/{inspection_id}", "inspection", fills_form,
       lambda w, c, t, f: R(f"/inspections/{rid(t)}", json={"dynamics": "平稳"})),
    Op("POST", "/inspections/{inspection_id}/lines", "inspection", fills_form,
       lambda w, c, t, f: R(f"/inspections/{rid(t)}/lines", json={
           "customer_name": "李先生", "store_id": t.rec["store_id"], "product_type": "热水器",
           "quantity": 1, "amount": "10.00"})),
    Op("POST", "/inspections/{inspection_id}/submit", "inspection", fills_form,
       lambda w, c, t, f: R(f"/inspections/{f['id']}/submit"),
       fresh=lambda w, c, t: w.form_like(t), notes="a fresh draft per case"),
    Op("POST", "/inspections/{inspection_id}/review", "inspection", reviews_form,
       lambda w, c, t, f: R(f"/inspections/{f['id']}/review", json={"comment": "阅"}),
       fresh=lambda w, c, t: w.form_like(t, submitted=True),
       notes="a fresh form submitted by its owner per case"),
    # action plans
    Op("POST", "/action-plans", "store", assigns_plan, lambda w, c, t, f: R(
        "/action-plans", json={"template": "store", "store_id": rid(t), "period": w.month(),
                               "title": "计划", "owner_id": t.id}), body_ref=True),
    Op("GET", "/action-plans", "plan", plan_visible, lambda w, c, t, f: R(
        "/action-plans", params={"store_id": t.rec["store_id"]})),
    Op("GET", "/action-plans/{plan_id}", "plan", plan_visible, lambda w, c, t, f: R(
        f"/action-plans/{rid(t)}")),
    Op("POST", "/action-plans/{plan_id}/entries", "plan", works_on_plan,
       lambda w, c, t, f: R(f"/action-plans/{rid(t)}/entries", json={
           "kind": "progress", "text": "进展"})),
    Op("POST", "/action-plans/{plan_id}/collaborators", "plan", adds_collaborator,
       lambda w, c, t, f: R(f"/action-plans/{rid(t)}/collaborators", json={
           "user_id": t.id}), ok=(400,),
       notes="names the owner: allowed callers reach the 400 on user_id, nothing changes"),
    Op("GET", "/action-plans/{plan_id}/history", "plan", plan_visible,
       lambda w, c, t, f: R(f"/action-plans/{rid(t)}/history")),
    # notifications
    Op("GET", "/notifications", None, anyone, lambda w, c, t, f: R("/notifications")),
    Op("POST", "/notifications/{notification_id}/read", "notification", own_only,
       lambda w, c, t, f: R(f"/notifications/{rid(t)}/read")),
    Op("POST", "/notifications/read-all", None, anyone, lambda w, c, t, f: R(
        "/notifications/read-all")),
    Op("POST", "/reminders", None, anyone, lambda w, c, t, f: R("/reminders", json={
        "subject": "回访", "due_at": "2099-01-01T09:00:00+08:00"})),
    Op("GET", "/reminders", "reminder", own_only, lambda w, c, t, f: R("/reminders"),
       notes="only one's own: stricter than mission.md (managers do not see them)"),
    Op("POST", "/reminders/{reminder_id}/done", "reminder", own_only, lambda w, c, t, f: R(
        f"/reminders/{f['id']}/done"), fresh=lambda w, c, t: {"id": w.reminder_of(t)},
        notes="a fresh reminder of the place's person per case"),
    Op("GET", "/notification-preferences", None, anyone, lambda w, c, t, f: R(
        "/notification-preferences")),
    Op("PUT", "/notification-preferences", None, anyone, lambda w, c, t, f: R(
        "/notification-preferences", json={"email_enabled": False, "sms_enabled": False})),
    Op("POST", "/webhooks", None, admin, lambda w, c, t, f: R("/webhooks", json={
        "name": w.uid("hook"), "url": "http://127.0.0.1:9/hook", "kinds": ["ticket_dispatched"],
        "active": False})),
    Op("GET", "/webhooks", None, admin, lambda w, c, t, f: R("/webhooks")),
    Op("PATCH", "/webhooks/{webhook_id}", None, admin, lambda w, c, t, f: R(
        f"/webhooks/{w.webhook_id}", json={"active": False})),
    Op("GET", "/deliveries", None, admin, lambda w, c, t, f: R("/deliveries")),
    Op("GET", "/notification-templates", None, anyone, lambda w, c, t, f: R(
        "/notification-templates")),
    Op("PUT", "/notification-templates/{kind}", None, admin, lambda w, c, t, f: R(
        f"/notification-templates/{w.template['kind']}", json={
            "locale": w.template["locale"], "title": w.template["title"],
            "body": w.template["body"]}), notes="re-sets the current wording"),
    # visits
    Op("POST", "/visit-types", None, role_in(KEEPERS), lambda w, c, t, f: R(
        "/visit-types", json={"code": w.uid("t").lower(), "name": "类型", "fields": []})),
    Op("GET", "/visit-types", None, anyone, lambda w, c, t, f: R("/visit-types")),
    Op("POST", "/visits", "store", plans_visit, lambda w, c, t, f: R("/visits", json={
        "user_id": t.id, "store_id": rid(t), "planned_at": "2099-03-01T10:00:00+08:00"}),
        body_ref=True, notes="for the store's owner: oneself or a direct report only"),
    Op("GET", "/visits", "visit", personal, lambda w, c, t, f: R(
        "/visits", params={"user_id": t.id})),
    Op("GET", "/visits/{visit_id}", "visit", personal, lambda w, c, t, f: R(
        f"/visits/{rid(t)}")),
    Op("POST", "/visits/{visit_id}/check-in", "visit", own_only, lambda w, c, t, f: R(
        f"/visits/{f['id']}/check-in", json=w.check_in_body(t)),
        fresh=lambda w, c, t: {"id": w.visit_of(t)}, notes="only the visitor"),
    Op("POST", "/visits/{visit_id}/check-out", "visit", own_only, lambda w, c, t, f: R(
        f"/visits/{f['id']}/check-out", json={"feedback": "好"}),
        fresh=lambda w, c, t: {"id": w.visit_of(t, checked_in=True)}),
    Op("POST", "/visits/{visit_id}/photos", "visit", own_only, lambda w, c, t, f: R(
        f"/visits/{rid(t)}/photos", json=w.photo_body()), ok=(201,)),
    Op("POST", "/visits/{visit_id}/photos/{photo_id}/confirm", "visit", own_only,
       lambda w, c, t, f: R(f"/visits/{rid(t)}/photos/{t.rec['photo_id']}/confirm"),
       ok=(409,), notes="nothing was uploaded: the visitor reaches the 409"),
    Op("GET", "/visits/{visit_id}/photos/{photo_id}", "visit", personal,
       lambda w, c, t, f: R(f"/visits/{rid(t)}/photos/{t.rec['photo_id']}")),
    Op("GET", "/users/{user_id}/trajectory", "user", sees_trajectory, lambda w, c, t, f: R(
        f"/users/{t.id}/trajectory", params={"date": "2026-01-05"}),
        notes="the person and their management chain (a direct channel-owner manager too)"),
    Op("PUT", "/visit-targets", "user", sets_target, lambda w, c, t, f: R(
        "/visit-targets", json={"user_id": t.id, "month": "2099-01", "target": 5}),
        body_ref=True),
    Op("GET", "/visit-targets", "target", personal, lambda w, c, t, f: R(
        "/visit-targets", params={"user_id": t.id})),
    # reports
    Op("GET", "/reports/channels", None, anyone, lambda w, c, t, f: R(
        "/reports/channels", params={"month": "2026-01", "format": "json"})),
    Op("GET", "/reports/visits", None, anyone, lambda w, c, t, f: R(
        "/reports/visits", params={"month": "2026-01", "format": "json"})),
    Op("GET", "/reports/tickets", None, lambda c, t=None: c.role in SERVICE_READERS or
       c.role == "repair_partner", lambda w, c, t, f: R(
        "/reports/tickets", params={"month": "2026-01", "format": "json"})),
    Op("POST", "/reports/submissions", None, lambda c, t=None: c.role != "admin",
       lambda w, c, t, f: R("/reports/submissions", json={"report": "visits",
                                                          "month": "2026-01"}),
       ok=(201,), refusals=(409,),
       notes="one level up: the bootstrap admin has no manager (409 no_manager)"),
    Op("GET", "/reports/submissions", "submission", sees_submission, lambda w, c, t, f: R(
        "/reports/submissions")),
    Op("GET", "/reports/submissions/{submission_id}", "submission", sees_submission,
       lambda w, c, t, f: R(f"/reports/submissions/{rid(t)}")),
    Op("POST", "/reports/submissions/{submission_id}/comments", "submission",
       sees_submission, lambda w, c, t, f: R(f"/reports/submissions/{rid(t)}/comments",
                                             json={"text": "收到"})),
    # after-sales: consumers and products
    Op("POST", "/consumers", None, may_register, lambda w, c, t, f: R("/consumers", json={
        "name": "消费者", "phone": w.phone(), "region": "华东"})),
    Op("GET", "/consumers", "consumer", service, lambda w, c, t, f: R(
        "/consumers", params={"q": t.rec["name"]}), lister=role_in(
        SERVICE_READERS | {"repair_partner"})),
    Op("GET", "/consumers/{consumer_id}", "consumer", service, lambda w, c, t, f: R(
        f"/consumers/{rid(t)}"), check=consumer_fields),
    Op("POST", "/consumers/{consumer_id}/products", "consumer", lambda c, t: may_register(
        c) and service(c, t), lambda w, c, t, f: R(f"/consumers/{rid(t)}/products", json={
            "model": "X1", "imei": w.imei()})),
    Op("GET", "/products", "product", service, lambda w, c, t, f: R(
        "/products", params={"imei": t.rec["imei"]}), lister=role_in(
        SERVICE_READERS | {"repair_partner"})),
    Op("GET", "/products/{product_id}", "product", service, lambda w, c, t, f: R(
        f"/products/{rid(t)}")),
    Op("POST", "/products/{product_id}/changes", "product", lambda c, t: c.role in DESK,
       lambda w, c, t, f: R(f"/products/{f['id']}/changes", json={"kind": "returned"}),
       fresh=lambda w, c, t: {"id": w.product_of(t)}, notes="a fresh device per case"),
    Op("GET", "/products/{product_id}/history", "product", service, lambda w, c, t, f: R(
        f"/products/{rid(t)}/history")),
    Op("POST", "/service-centers", None, role_in(KEEPERS), lambda w, c, t, f: R(
        "/service-centers", json={"partner_id": f["partner_id"], "name": "维修点",
                                  "region": w.uid("区")}),
        fresh=lambda w, c, t: {"partner_id": w.new_partner()}),
    Op("GET", "/service-centers", None, role_in(DESK), lambda w, c, t, f: R(
        "/service-centers")),
    Op("POST", "/dispatch-rules", None, role_in(KEEPERS), lambda w, c, t, f: R(
        "/dispatch-rules", json={"priority": 5, "region": w.uid("区"),
                                 "service_center_ids": [w.centres["A"]]})),
    Op("GET", "/dispatch-rules", None, role_in(DESK), lambda w, c, t, f: R(
        "/dispatch-rules")),
    # after-sales: tickets
    Op("POST", "/tickets", "consumer", lambda c, t: may_register(c) and service(c, t),
       lambda w, c, t, f: R("/tickets", json={
           "consumer_id": rid(t), "channel": "call_center", "fault_description": "不开机"}),
       body_ref=True),
    Op("GET", "/tickets", "ticket", service, lambda w, c, t, f: R(
        "/tickets", params={"consumer_id": t.rec["consumer_id"]}),
        lister=role_in(SERVICE_READERS | {"repair_partner"})),
    Op("GET", "/tickets/{ticket_id}", "ticket", service, lambda w, c, t, f: R(
        f"/tickets/{rid(t)}")),
    Op("POST", "/tickets/{ticket_id}/transitions", "ticket", lambda c, t: c.role in DESK or (
        c.role == "repair_partner" and t.partner_id == c.partner_id), lambda w, c, t, f: R(
        f"/tickets/{f['id']}/transitions", json={"to": "diagnosing"}),
        fresh=lambda w, c, t: {"id": w.ticket_of(t)}, notes="a fresh assigned ticket"),
    Op("POST", "/tickets/{ticket_id}/worklog", "ticket", lambda c, t: c.role in DESK or (
        c.role == "repair_partner" and t.partner_id == c.partner_id), lambda w, c, t, f: R(
        f"/tickets/{rid(t)}/worklog", json={"text": "检测主板", "parts_used": []})),
    Op("GET", "/tickets/{ticket_id}/worklog", "ticket", service, lambda w, c, t, f: R(
        f"/tickets/{rid(t)}/worklog")),
    Op("GET", "/tickets/{ticket_id}/history", "ticket", service, lambda w, c, t, f: R(
        f"/tickets/{rid(t)}/history")),
    Op("GET", "/tickets/{ticket_id}/survey", "ticket", service, lambda w, c, t, f: R(
        f"/tickets/{t.rec['closed_id']}/survey")),
    Op("POST", "/surveys/{survey_id}/answers", "ticket", lambda c, t: c.role in DESK,
       lambda w, c, t, f: R(f"/surveys/{t.rec['survey_id']}/answers", json={"score": 5}),
       ok=(200, 409), notes="answered once: later desk answers are 409 already_answered"),
    # after-sales: parts
    Op("POST", "/parts", None, role_in(KEEPERS), lambda w, c, t, f: R("/parts", json={
        "code": w.uid("PT"), "name": "屏幕", "unit_price": "9.90"})),
    Op("GET", "/parts", None, role_in(SERVICE_READERS | {"repair_partner"}),
       lambda w, c, t, f: R("/parts")),
    Op("POST", "/warehouses", None, role_in(KEEPERS), lambda w, c, t, f: R(
        "/warehouses", json={"code": w.uid("WH"), "name": "仓", "kind": "branch"})),
    Op("GET", "/warehouses", "shelf", lambda c, t: c.role in SERVICE_READERS or (
        c.role == "repair_partner" and t.partner_id == c.partner_id), lambda w, c, t, f: R(
        "/warehouses", params={"limit": 500}), lister=role_in(
        SERVICE_READERS | {"repair_partner"}),
        notes="a partner sees HQ/branch stocks and its own shelf only"),
    Op("GET", "/stocks", "shelf", lambda c, t: c.role in SERVICE_READERS or (
        c.role == "repair_partner" and t.partner_id == c.partner_id), lambda w, c, t, f: R(
        "/stocks", params={"warehouse_id": rid(t)}), lister=role_in(
        SERVICE_READERS | {"repair_partner"}), extra={"listed_by": "warehouse_id"}),
    Op("POST", "/stocks/adjustments", None, role_in(KEEPERS), lambda w, c, t, f: R(
        "/stocks/adjustments", json={"warehouse_id": w.warehouse_id, "part_id": w.part_id,
                                     "qty": 1, "reason": "盘点"})),
    Op("GET", "/stocks/movements", None, role_in(SERVICE_READERS | {"repair_partner"}),
       lambda w, c, t, f: R("/stocks/movements", params={"warehouse_id": w.warehouse_id})),
    Op("POST", "/parts-orders", "order", orders_for, lambda w, c, t, f: R(
        "/parts-orders", json={"partner_id": t.partner_id, "warehouse_id": w.warehouse_id,
                               "lines": [{"part_id": w.part_id, "qty": 1}]}), body_ref=True),
    Op("GET", "/parts-orders", "order", service, lambda w, c, t, f: R(
        "/parts-orders", params={"limit": 500}), lister=role_in(
        SERVICE_READERS | {"repair_partner"})),
    Op("GET", "/parts-orders/{order_id}", "order", service, lambda w, c, t, f: R(
        f"/parts-orders/{rid(t)}")),
    Op("POST", "/parts-orders/{order_id}/transitions", "order", orders_for,
       lambda w, c, t, f: R(f"/parts-orders/{f['id']}/transitions", json={"to": "cancelled"}),
       fresh=lambda w, c, t: {"id": w.order_of(t)}, notes="a fresh order per case"),
    Op("POST", "/parts-returns", "order", orders_for, lambda w, c, t, f: R(
        "/parts-returns", json={"partner_id": t.partner_id, "warehouse_id": w.warehouse_id,
                                "part_id": w.part_id, "qty": 1, "reason": "坏件"}),
        body_ref=True),
    Op("GET", "/parts-returns", "return", service, lambda w, c, t, f: R(
        "/parts-returns", params={"limit": 500}), lister=role_in(
        SERVICE_READERS | {"repair_partner"})),
]

BY_KEY = {(op.method, op.path): op for op in OPS}
