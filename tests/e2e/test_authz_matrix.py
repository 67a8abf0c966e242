"""The authorisation matrix (issue 9, item 3): every gateway operation x every role x a
record that is the caller's own, one in their subtree, and one in a sibling region, checked
against the documented rule of `authz_rules.OPS` (scope, no skip-level, field masking);
then the gRPC API with partner credentials.

One world is built per module through the HTTP API: HQ (admin, VP, HQ head), two regions
A and B, each with a region manager -> channel owner -> field salesperson chain (the last in
a city below the region) and a repair partner's user; region A also holds the analyst and
the service agent. Callers all sit at HQ or in region A; "sibling" records are region B's.
"""
import hashlib
import itertools
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmkit.testing import wait_until
from service_tickets.testing import new_imei

sys.path.insert(0, str(Path(__file__).resolve().parent))
import authz_rules as rules  # noqa: E402
from authz_rules import OPS, ROLES, Who  # noqa: E402

pytestmark = pytest.mark.e2e
PASSWORD = "matrix-pass-123"

SLOT_ROLES = {"rm": "region_manager", "co": "channel_owner", "fs": "field_sales",
              "ptn": "repair_partner"}
CALLER_OF_ROLE = {"admin": "admin", "vp": "vp", "hq_head": "hq", "region_manager": "rm_A",
                  "channel_owner": "co_A", "field_sales": "fs_A", "service_agent": "ag_A",
                  "repair_partner": "ptn_A", "analyst": "an_A"}
CALLER_SLOT = {"region_manager": "rm", "channel_owner": "co", "field_sales": "fs",
               "repair_partner": "ptn"}
OWNED = ("rm", "co", "fs")
SERVICE = ("ptn",)
KIND_SLOTS = {"unit": OWNED, "user": OWNED, "customer": OWNED, "partner": OWNED,
              "store": OWNED, "inspection": OWNED, "plan": OWNED, "visit": OWNED,
              "target": OWNED, "import": ("rm", "co"), "notification": OWNED,
              "reminder": OWNED, "submission": OWNED, "consumer": SERVICE,
              "product": SERVICE, "ticket": SERVICE, "order": SERVICE, "return": SERVICE,
              "shelf": SERVICE}


def target_slot(kind: str, role: str, place: str) -> tuple[str, str] | None:
    """(region, slot) of the record a case aims at, None when the role has no such place:
    own = the caller's; subtree = the lowest holder in region A below the caller (for the
    service kinds: region A's partner, seen from anyone but the partner); sibling = the
    same holder (or the lowest) in region B."""
    slots, mine = KIND_SLOTS[kind], CALLER_SLOT.get(role)
    if place == "own":
        return ("A", mine) if mine in slots else None
    if place == "subtree":
        if slots == SERVICE:
            return None if mine == "ptn" else ("A", "ptn")
        below = [s for s in slots if mine is None or slots.index(s) > slots.index(mine)] \
            if mine in slots or mine is None else []
        return ("A", below[-1]) if below else None
    return ("B", mine if mine in slots else slots[-1])


def cases():
    for op in OPS:
        if op.exempt:
            continue
        for role in ROLES:
            if op.kind is None:
                yield pytest.param(op, role, "-", id=f"{op.method} {op.path}|{role}")
                continue
            for place in op.places:
                if target_slot(op.kind, role, place) is not None:
                    yield pytest.param(op, role, place,
                                       id=f"{op.method} {op.path}|{role}|{place}")


# --- the world ------------------------------------------------------------------------------
class World:
    def __init__(self, api, admin_headers, login):
        self.api, self.login_fn = api, login
        self.password = PASSWORD
        self.tag = uuid.uuid4().hex[:6]
        self.counter = itertools.count(1)
        self.months = itertools.count(1)
        self.people: dict[str, dict] = {}
        self.headers: dict[str, dict] = {"admin": admin_headers}
        self.records: dict[str, dict] = {}

    # small helpers
    def n(self) -> int:
        return next(self.counter)

    def uid(self, prefix: str) -> str:
        return f"{prefix}{self.tag}{self.n()}"

    def month(self) -> str:
        """A month no form or plan of this run used yet (forms are one per partner and
        month, plans one per subject and period)."""
        i = next(self.months)
        return f"{2030 + i // 12}-{i % 12 + 1:02d}"

    def phone(self) -> str:
        return f"139{self.n() % 100000000:08d}"

    def imei(self) -> str:
        return new_imei()

    def ok(self, reply, *codes):
        assert reply.status_code in (codes or (200, 201, 202)), \
            f"{reply.request.method} {reply.request.url}: {reply.status_code} {reply.text}"
        return reply.json()

    def as_(self, name, method, path, **kw):
        return self.ok(self.api.request(method, path, headers=self.headers[name], **kw))

    def answer(self, reply, status):
        return reply.json() if reply.status_code == status else None

    def poll(self, attempt, timeout: float = 20):
        """`attempt()` until it answers something (effects that travel by events)."""
        found = []
        assert wait_until(lambda: found.append(attempt()) or found[-1] is not None,
                          timeout=timeout), f"gave up waiting: {attempt}"
        return found[-1]

    def fresh_login(self, c: Who) -> dict:
        password = os.environ["CRM_BOOTSTRAP_ADMIN_PASSWORD"] if c.slot_name == "admin" \
            else PASSWORD
        return self.login_fn(self.people[c.slot_name]["username"], password)

    # people and places
    def unit(self, name, kind, parent_id):
        return self.as_("admin", "POST", "/org-units", json={
            "name": self.uid(name), "kind": kind, "parent_id": parent_id})

    def person(self, name, role, unit, manager, partner_id=None):
        body = {"username": self.uid(name.replace("_", "")), "password": PASSWORD,
                "display_name": name, "roles": [role], "org_unit_id": unit["id"]}
        if manager:
            body["manager_id"] = self.people[manager]["id"]
        if partner_id:
            body["partner_id"] = partner_id
        user = self.as_("admin", "POST", "/users", json=body)
        user["path"], user["unit"] = unit["path"], unit
        self.people[name] = user
        self.headers[name] = self.login_fn(user["username"], PASSWORD)
        return user

    def who(self, name: str, **extra) -> Who:
        user = self.people[name]
        chain, current = [], user
        while current.get("manager_id") and len(chain) < 10:
            chain.append(current["manager_id"])
            current = next((p for p in self.people.values()
                            if p["id"] == current["manager_id"]), {})
        who = Who(role=user["roles"][0], id=user["id"], path=user["path"],
                  manager_id=user.get("manager_id"), chain=tuple(chain),
                  partner_id=user.get("partner_id"), **extra)
        who.slot_name = name
        return who

    def caller(self, role: str) -> Who:
        return self.who(CALLER_OF_ROLE[role])

    def target(self, kind: str, region: str, slot: str) -> Who:
        name = f"{slot}_{region}"
        rec = self.records[kind][(region, slot)]
        extra = {"rec": rec}
        if kind == "unit":
            extra["unit_path"] = rec["path"]
        if kind == "customer":
            extra["team"] = tuple(rec.get("team_member_ids") or ())
        return self.who(name, **extra)

    # fresh records for state-changing cases
    def customer_like(self, t: Who) -> int:
        return self.as_("admin", "POST", "/customers", params={"allow_duplicate": "true"},
                        json={"name": self.uid("并入客户"), "owner_id": t.id,
                              "team_member_ids": list(t.team)})["id"]

    def form_like(self, t: Who, submitted: bool = False) -> dict:
        form = self.as_("admin", "POST", "/inspections", json={
            "partner_id": t.rec["partner_id"], "month": self.month(),
            "owner_id": t.id, "store_ids": [t.rec["store_id"]]})
        if submitted:
            self.as_(t.slot_name, "POST", f"/inspections/{form['id']}/submit")
        return form

    def reminder_of(self, t: Who) -> int:
        return self.as_(t.slot_name, "POST", "/reminders", json={
            "subject": "回访", "due_at": "2099-01-01T09:00:00+08:00"})["id"]

    def check_in_body(self, t: Who) -> dict:
        store = self.records["store"][t.rec["key"]]
        return {"lat": store["lat"], "lon": store["lon"], "accuracy_m": 5,
                "at": datetime.now(UTC).isoformat()}

    def visit_of(self, t: Who, checked_in: bool = False) -> int:
        visit = self.as_(t.slot_name, "POST", "/visits", json={
            "store_id": t.rec["store_id"], "planned_at": "2099-02-01T10:00:00+08:00"})
        if checked_in:
            self.as_(t.slot_name, "POST", f"/visits/{visit['id']}/check-in",
                     json=self.check_in_body(t))
        return visit["id"]

    def photo_body(self) -> dict:
        content = f"photo {self.uid('p')}".encode()
        return {"content_type": "image/jpeg", "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(), "source": "camera"}

    def product_of(self, t: Who) -> int:
        return self.as_("ag_A", "POST", f"/consumers/{t.rec['consumer_id']}/products",
                        json={"model": "X1", "imei": new_imei()})["id"]

    def ticket_of(self, t: Who) -> int:
        ticket = self.as_("ag_A", "POST", "/tickets", json={
            "consumer_id": t.rec["consumer_id"], "channel": "call_center",
            "fault_description": "屏幕碎裂"})
        assert ticket["partner_id"] == t.partner_id, ticket
        return ticket["id"]

    def order_of(self, t: Who) -> int:
        return self.as_(t.slot_name, "POST", "/parts-orders", json={
            "warehouse_id": self.warehouse_id,
            "lines": [{"part_id": self.part_id, "qty": 1}]})["id"]

    def new_partner(self) -> int:
        return self.as_("admin", "POST", "/partners", json={
            "code": self.uid("SC"), "name": "维修商", "kind": "service_provider"})["id"]

    def store_csv(self) -> bytes:
        return ("门店编码,门店名称,渠道商编码,地址,纬度,经度\n"
                f"{self.uid('IM')},导入店,{self.uid('NOPE')},杭州,30.2,120.1\n").encode()

    def keep(self, kind, region, slot, record):
        self.records.setdefault(kind, {})[(region, slot)] = record
        return record


def build(w: World) -> World:
    api = w.api
    hq = w.as_("admin", "GET", "/org-units/1")
    me = w.as_("admin", "GET", "/me")
    w.people["admin"] = {**me, "path": hq["path"], "unit": hq}
    w.person("vp", "vp", hq, "admin")
    w.person("hq", "hq_head", hq, "vp")
    for region in ("A", "B"):
        unit = w.unit(f"大区{region}", "region", 1)
        city = w.unit(f"城市{region}", "city", unit["id"])
        shop = w.unit(f"维修商{region}", "partner", unit["id"])
        w.person(f"rm_{region}", "region_manager", unit, "hq")
        w.person(f"co_{region}", "channel_owner", unit, f"rm_{region}")
        w.person(f"fs_{region}", "field_sales", city, f"co_{region}")
        for slot, at in (("rm", unit), ("co", unit), ("fs", city)):
            w.keep("unit", region, slot, at)
            w.keep("user", region, slot, w.people[f"{slot}_{region}"])
        w.records.setdefault("shop", {})[region] = shop
    w.person("an_A", "analyst", w.records["unit"][("A", "rm")], "rm_A")
    w.person("ag_A", "service_agent", w.records["unit"][("A", "rm")], "rm_A")

    # channels: a partner, a store, a draft form, a plan per person
    for region in ("A", "B"):
        for slot in OWNED:
            owner = w.people[f"{slot}_{region}"]
            partner = w.as_("admin", "POST", "/partners", json={
                "code": w.uid(f"P{slot}"), "name": f"{slot}渠道商{region}",
                "kind": "service_provider" if slot == "co" else "chain",
                "owner_id": owner["id"], "credit_limit": "1000.00"})
            w.keep("partner", region, slot, partner)
            store = w.as_("admin", "POST", "/stores", json={
                "code": w.uid("ST"), "name": f"门店{slot}{region}", "partner_id": partner["id"],
                "owner_id": owner["id"], "address": "杭州市西湖区", "lat": 30.25, "lon": 120.15})
            w.keep("store", region, slot, store)
            form = w.as_("admin", "POST", "/inspections", json={
                "partner_id": partner["id"], "month": w.month(), "owner_id": owner["id"],
                "store_ids": [store["id"]]})
            w.keep("inspection", region, slot, dict(form, store_id=store["id"]))
            plan = w.as_("admin", "POST", "/action-plans", json={
                "template": "store", "store_id": store["id"], "period": w.month(),
                "title": "冲量", "owner_id": owner["id"]})
            w.keep("plan", region, slot, plan)
            team = [w.people["an_A"]["id"], w.people["ag_A"]["id"]] \
                if (region, slot) == ("A", "fs") else []
            customer = w.as_("admin", "POST", "/customers", params={
                "allow_duplicate": "true"}, json={
                "name": w.uid("客户"), "owner_id": owner["id"], "phone": w.phone(),
                "tax_id": f"91330100{w.n():010d}", "team_member_ids": team})
            w.keep("customer", region, slot, customer)
            w.as_("admin", "POST", f"/customers/{customer['id']}/contacts", json={
                "name": "联系人", "phone": w.phone(), "email": f"c{w.n()}@example.com"})
            name = f"{slot}_{region}"
            w.keep("reminder", region, slot, w.as_(name, "POST", "/reminders", json={
                "subject": "提醒", "due_at": (datetime.now(UTC) + timedelta(
                    seconds=1)).isoformat()}))
            manager = {"rm": "hq", "co": f"rm_{region}", "fs": f"co_{region}"}[slot]
            w.keep("target", region, slot, w.as_(manager, "PUT", "/visit-targets", json={
                "user_id": owner["id"], "month": "2099-01", "target": 3}))
            w.keep("submission", region, slot, w.as_(name, "POST", "/reports/submissions",
                                                      json={"report": "visits",
                                                            "month": "2026-01"}))
            if slot in ("rm", "co"):
                csv = ("门店编码,门店名称,渠道商编码,地址,纬度,经度\n"
                       f"{w.uid('IM')},导入店,{partner['code']},杭州,30.2,120.1\n").encode()
                w.keep("import", region, slot, w.ok(api.post(
                    "/stores/import", headers=w.headers[name],
                    files={"file": ("s.csv", csv, "text/csv")}), 202))
    # visits: each person's own, checked in, with a photo slot (the store reaches visits
    # through events: plan once it has arrived)
    for region in ("A", "B"):
        for slot in OWNED:
            name, store = f"{slot}_{region}", w.records["store"][(region, slot)]
            visit = w.poll(lambda n=name, s=store: w.answer(api.post(
                "/visits", headers=w.headers[n], json={
                    "store_id": s["id"], "planned_at": "2099-02-01T10:00:00+08:00"}), 201))
            w.as_(name, "POST", f"/visits/{visit['id']}/check-in", json={
                "lat": store["lat"], "lon": store["lon"], "accuracy_m": 5,
                "at": datetime.now(UTC).isoformat()})
            photo = w.as_(name, "POST", f"/visits/{visit['id']}/photos", json=w.photo_body())
            w.keep("visit", region, slot, dict(visit, photo_id=photo["photo_id"],
                                               store_id=store["id"], key=(region, slot)))

    # after-sales: each region's service provider (the channel owner's partner) is a
    # service centre with a shelf, a repair partner's user, dispatch by region
    w.warehouse_id = w.as_("admin", "POST", "/warehouses", json={
        "code": w.uid("HQ"), "name": "总仓", "kind": "hq"})["id"]
    w.part_id = w.as_("admin", "POST", "/parts", json={
        "code": w.uid("PT"), "name": "主板", "unit_price": "99.00"})["id"]
    w.as_("admin", "POST", "/stocks/adjustments", json={
        "warehouse_id": w.warehouse_id, "part_id": w.part_id, "qty": 1000, "reason": "入库"})
    w.centres = {}
    for region in ("A", "B"):
        partner = w.records["partner"][(region, "co")]
        area = w.uid("区域")
        w.centres[region] = w.as_("admin", "POST", "/service-centers", json={
            "partner_id": partner["id"], "name": f"维修中心{region}", "region": area})["id"]
        w.as_("admin", "POST", "/dispatch-rules", json={
            "priority": 1, "region": area, "service_center_ids": [w.centres[region]]})
        pu = w.person(f"ptn_{region}", "repair_partner", w.records["shop"][region],
                      f"rm_{region}", partner_id=partner["id"])
        name = f"ptn_{region}"
        shelf = w.as_("admin", "POST", "/warehouses", json={
            "code": w.uid("SH"), "name": "备件架", "kind": "service_center",
            "partner_id": partner["id"]})
        w.as_("admin", "POST", "/stocks/adjustments", json={
            "warehouse_id": shelf["id"], "part_id": w.part_id, "qty": 5, "reason": "入库"})
        w.keep("shelf", region, "ptn", shelf)
        consumer = w.as_(name, "POST", "/consumers", json={
            "name": w.uid("消费者"), "phone": w.phone(), "region": area})
        product = w.as_(name, "POST", f"/consumers/{consumer['id']}/products", json={
            "model": "X1", "imei": new_imei(), "sold_at": "2026-01-01"})
        w.keep("consumer", region, "ptn", dict(consumer, consumer_id=consumer["id"]))
        w.keep("product", region, "ptn", dict(product, consumer_id=consumer["id"]))
        tickets = []
        for _ in range(2):
            ticket = w.as_("ag_A", "POST", "/tickets", json={
                "consumer_id": consumer["id"], "product_id": product["id"],
                "channel": "call_center", "fault_description": "不充电"})
            assert ticket["partner_id"] == pu["partner_id"], ticket
            w.as_(name, "POST", f"/tickets/{ticket['id']}/transitions", json={
                "to": "diagnosing"})
            tickets.append(ticket)
        for step in ("repairing", "done"):
            w.as_(name, "POST", f"/tickets/{tickets[1]['id']}/transitions", json={"to": step})
        w.as_("ag_A", "POST", f"/tickets/{tickets[1]['id']}/transitions", json={"to": "closed"})
        survey = w.as_("ag_A", "GET", f"/tickets/{tickets[1]['id']}/survey")
        w.keep("ticket", region, "ptn", dict(tickets[0], consumer_id=consumer["id"],
                                             closed_id=tickets[1]["id"],
                                             survey_id=survey["id"]))
        w.keep("order", region, "ptn", w.as_(name, "POST", "/parts-orders", json={
            "warehouse_id": w.warehouse_id, "lines": [{"part_id": w.part_id, "qty": 1}]}))
        w.keep("return", region, "ptn", w.as_(name, "POST", "/parts-returns", json={
            "warehouse_id": w.warehouse_id, "part_id": w.part_id, "qty": 1, "reason": "坏件"}))

    w.webhook_id = w.as_("admin", "POST", "/webhooks", json={
        "name": w.uid("hook"), "url": "http://127.0.0.1:9/hook", "kinds": ["ticket_dispatched"],
        "active": False})["id"]
    w.template = w.as_("admin", "GET", "/notification-templates")["items"][0]
    # the reminders fire into their owners' inboxes
    for region in ("A", "B"):
        for slot in OWNED:
            name = f"{slot}_{region}"
            notice = w.poll(lambda n=name: next(iter(
                w.as_(n, "GET", "/notifications")["items"]), None))
            w.keep("notification", region, slot, notice)
    return w


@pytest.fixture(scope="module")
def world(api, admin, login):
    return build(World(api, admin, login))


# --- the matrix ---------------------------------------------------------------------------
def test_every_operation_is_classified(api):
    spec = api.get("/openapi.json").json()
    prefix = "/api/v1"
    documented = {(method.upper(), path[len(prefix):]) for path, item in spec["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    classified = set(rules.BY_KEY)
    assert len(classified) == len(OPS), "an operation is in the table twice"
    assert documented - classified == set(), "operations nobody classified"
    assert classified - documented == set(), "the table names operations that do not exist"


def _ids(api, headers, call, listed_by) -> tuple[int, set]:
    params, seen = dict(call.get("params") or {}), set()
    for _ in range(20):
        reply = api.get(call["path"], headers=headers, params=params)
        if reply.status_code != 200:
            return reply.status_code, seen
        body = reply.json()
        seen |= {item.get(listed_by) for item in body["items"]}
        if not body.get("next_cursor"):
            break
        params["cursor"] = body["next_cursor"]
    return 200, seen


@pytest.mark.parametrize("op,role,place", list(cases()))
def test_matrix(world, op, role, place):
    w = world
    c = w.caller(role)
    t = None
    if op.kind is not None:
        region, slot = target_slot(op.kind, role, place)
        t = w.target(op.kind, region, slot)
    fresh = op.fresh(w, c, t) if op.fresh else {}
    call = op.call(w, c, t, fresh)
    headers = call.pop("headers", None) or w.headers[c.slot_name]
    what = f"{op.method} {call['path']} as {role} on {place}"
    is_list = op.method == "GET" and op.kind is not None and "{" not in op.path \
        and not op.extra.get("not_a_list")
    if is_list:
        listed_by = op.extra.get("listed_by", "id")
        status, ids = _ids(w.api, headers, call, listed_by)
        if not op.lister(c):
            assert status == 403, f"{what}: {status}, the role may not list"
            return
        assert status == 200, f"{what}: {status}"
        wanted = t.rec["id"]
        expected = op.rule(c, t)
        assert (wanted in ids) == expected, \
            f"{what}: record {wanted} {'missing' if expected else 'listed'}"
        return
    reply = w.api.request(op.method, call["path"], headers=headers,
                          params=call.get("params"), json=call.get("json"),
                          files=call.get("files"))
    allowed = op.rule(c, t) if t is not None else op.rule(c)
    if allowed:
        assert reply.status_code in op.ok, f"{what}: {reply.status_code} {reply.text[:300]}"
        if op.check is not None:
            problem = op.check(c, t, reply.json())
            assert problem is None, f"{what}: {problem}: {reply.text[:300]}"
    else:
        denied = {403, 404, *op.refusals} | ({400} if op.body_ref else set())
        assert reply.status_code in denied, \
            f"{what}: {reply.status_code}, expected a refusal: {reply.text[:300]}"


# --- the gRPC API ------------------------------------------------------------------------------
# Every method of tickets.proto, for every role, on region A's and region B's records. The
# service's scope (access.py): the desk and analysts see every ticket and order (analysts
# change nothing), a repair partner only its own: another partner's ticket or order is
# NOT_FOUND, ordering for another partner is PERMISSION_DENIED, and a consumer out of scope
# named in a request is INVALID_ARGUMENT on consumer_id; everyone else is PERMISSION_DENIED.
GRPC_METHODS = ("OpenTicket", "GetTicket", "FindTickets", "TransitionTicket", "AddWorkLog",
                "SubmitPartsOrder", "GetPartsOrder", "TransitionPartsOrder")
GRPC_REFUSED = ("NOT_FOUND", "PERMISSION_DENIED", "INVALID_ARGUMENT")


def grpc_allowed(method: str, c: Who, t: Who) -> bool:
    reads = method in ("GetTicket", "FindTickets", "GetPartsOrder")
    if c.role in rules.DESK:
        return True
    if c.role == "analyst":
        return reads
    return c.role == "repair_partner" and t.partner_id == c.partner_id


def grpc_cases():
    for method in GRPC_METHODS:
        for role in ROLES:
            for place in ("own", "sibling") if role == "repair_partner" else ("subtree",
                                                                              "sibling"):
                yield pytest.param(method, role, place, id=f"{method}|{role}|{place}")


@pytest.fixture(scope="module")
def tickets_stub(stack):
    import grpc

    from service_tickets.protos_gen import tickets_pb2_grpc
    channel = grpc.insecure_channel(stack.grpc_target)
    yield tickets_pb2_grpc.TicketsStub(channel)
    channel.close()


def test_every_grpc_method_is_in_the_matrix():
    from service_tickets.protos_gen import tickets_pb2 as pb
    declared = {m.name for m in pb.DESCRIPTOR.services_by_name["Tickets"].methods}
    assert declared == set(GRPC_METHODS)


@pytest.mark.parametrize("method,role,place", list(grpc_cases()))
def test_grpc_matrix(world, tickets_stub, method, role, place):
    import grpc

    from service_tickets.protos_gen import tickets_pb2 as pb
    w, c = world, world.caller(role)
    region, slot = target_slot("ticket", role, place)
    t = w.target("ticket", region, slot)
    line = pb.PartQty(part_id=w.part_id, qty=1)
    requests = {
        "OpenTicket": lambda: pb.OpenTicketRequest(
            consumer_id=t.rec["consumer_id"], channel="call_center", fault_description="无声"),
        "GetTicket": lambda: pb.GetTicketRequest(ticket_id=t.rec["id"]),
        "FindTickets": lambda: pb.FindTicketsRequest(
            imei=w.records["product"][(region, slot)]["imei"]),
        "TransitionTicket": lambda: pb.TransitionTicketRequest(
            ticket_id=w.ticket_of(t), to="diagnosing"),
        "AddWorkLog": lambda: pb.AddWorkLogRequest(ticket_id=t.rec["id"], text="更换电池"),
        "SubmitPartsOrder": lambda: pb.SubmitPartsOrderRequest(
            partner_id=t.partner_id, warehouse_id=w.warehouse_id, lines=[line]),
        "GetPartsOrder": lambda: pb.GetPartsOrderRequest(
            order_id=w.records["order"][(region, slot)]["id"]),
        "TransitionPartsOrder": lambda: pb.TransitionPartsOrderRequest(
            order_id=w.order_of(t), to="cancelled"),
    }
    token = w.headers[c.slot_name]["Authorization"].split()[1]
    what = f"{method} as {role} on {place}"
    try:
        answer = getattr(tickets_stub, method)(
            requests[method](), metadata=[("authorization", f"Bearer {token}")], timeout=20)
        status = "OK"
    except grpc.RpcError as error:
        answer, status = None, error.code().name
    if method == "FindTickets" and status == "OK":
        # A lookup answers what the caller sees: another partner's tickets are not listed.
        found = t.rec["id"] in {item.id for item in answer.items}
        assert found == grpc_allowed(method, c, t), f"{what}: listed {found}"
        return
    if grpc_allowed(method, c, t):
        assert status == "OK", f"{what}: {status}"
        if hasattr(answer, "partner_id") and method != "OpenTicket":
            assert answer.partner_id == t.partner_id
    else:
        assert status in GRPC_REFUSED, f"{what}: {status}, expected a refusal"


def test_a_manager_cannot_bind_a_user_to_another_regions_partner(world):
    """Found by the matrix's design: a region manager could create (or rebind) a repair
    partner's user for any partner id, a sibling region's service centre included, and
    read its tickets and consumers' phones through them. Binding is an admin's act."""
    w = world
    other = w.people["ptn_B"]["partner_id"]
    made = w.api.post("/users", headers=w.headers["rm_A"], json={
        "username": w.uid("spy"), "password": PASSWORD, "display_name": "x",
        "roles": ["repair_partner"], "org_unit_id": w.records["shop"]["A"]["id"],
        "partner_id": other})
    assert made.status_code == 403 and "partner_id" in made.json()["error"]["fields"]
    moved = w.api.patch(f"/users/{w.people['ptn_A']['id']}", headers=w.headers["rm_A"],
                        json={"partner_id": other})
    assert moved.status_code == 403 and "partner_id" in moved.json()["error"]["fields"]
    same = w.api.patch(f"/users/{w.people['ptn_A']['id']}", headers=w.headers["rm_A"],
                       json={"partner_id": w.people["ptn_A"]["partner_id"]})
    assert same.status_code == 200
