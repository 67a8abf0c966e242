"""Identity and the gateway's conventions, end to end, as a client sees them."""
import time
import uuid

import httpx
import jwt
import pytest

from crmkit.testing import unique, wait_until

pytestmark = pytest.mark.e2e


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def token_of(api, username, password) -> str:
    reply = api.post("/auth/token", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return reply.json()["access_token"]


@pytest.fixture(scope="module")
def org(api, admin):
    """Two sibling regions, each with a manager and a field salesperson."""
    made = {}
    for key in ("a", "b"):
        region = api.post("/org-units", headers=admin, json={
            "name": f"大区{key}{uuid.uuid4().hex[:4]}", "kind": "region", "parent_id": 1}).json()
        manager = api.post("/users", headers=admin, json={
            "username": unique("rm"), "password": "manager-pass-1", "display_name": "经理",
            "roles": ["region_manager"], "org_unit_id": region["id"], "manager_id": 1}).json()
        mtoken = token_of(api, manager["username"], "manager-pass-1")
        sales = api.post("/users", headers=bearer(mtoken), json={
            "username": unique("fs"), "password": "sales-pass-12", "display_name": "销售员",
            "roles": ["field_sales"], "org_unit_id": region["id"],
            "manager_id": manager["id"]})
        assert sales.status_code == 201, sales.text
        made[key] = {"region": region, "manager": manager, "mtoken": mtoken,
                     "sales": sales.json()}
    return made


def test_health_readiness_and_openapi(stack, api):
    assert httpx.get(f"{stack.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{stack.url}/readyz").json()
    assert ready["status"] == "ready"
    assert ready["services"]["visits"]["object_store"] is True
    own = httpx.get(f"{stack.url}/readyz", params={"scope": "gateway"}).json()
    assert own == {"status": "ready", "bus": True, "revocations": True}
    spec = api.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/api/v1/users/{user_id}" in spec["paths"]


def test_me_round_trips_chinese_and_carries_security_headers(api, admin):
    reply = api.get("/me", headers=admin)
    assert reply.status_code == 200
    assert reply.json()["username"] == "admin" and reply.json()["org_path"] == "/1/"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in reply.headers["content-security-policy"]
    assert reply.headers["x-request-id"]
    refused = api.get("/me")  # errors carry them too
    assert refused.status_code == 401 and refused.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"},
    {"Authorization": "Bearer " + jwt.encode({"sub": "1", "sid": "x", "iat": 1, "exp": 2**31,
                                              "typ": "access", "iss": "crm"},
                                             "forged-secret-forged-secret-forged-secret")},
])
def test_missing_or_forged_tokens_are_401(api, headers):
    reply = api.get("/me", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] in {"not_authenticated", "invalid_token"}


def test_gateway_conventions_for_bad_requests(api, admin):
    assert api.post("/users", headers=admin, content=b"{bad json").status_code == 400
    assert api.post("/users", headers=admin, content=b"\xff\xfe").json()["error"]["code"] == \
        "invalid_json"
    assert api.post("/users", headers=admin, content=b"[1, 2]").status_code == 400
    assert api.post("/users", headers=admin,
                    content=b'{"a": NaN}').status_code == 400
    big = api.post("/users", headers=admin, content=b'{"x": "' + b"a" * 2_000_000 + b'"}')
    assert big.status_code == 413
    assert api.get("/users/99999999999999999999", headers=admin).status_code == 404
    assert api.get("/users/abc", headers=admin).status_code == 404
    assert api.get("/no-such-path", headers=admin).json()["error"]["code"] == "not_found"
    reply = api.post("/users", headers=admin, json={"username": "x", "roles": ["boss"]})
    assert reply.status_code == 400
    assert {"username", "roles.0", "password"} <= set(reply.json()["error"]["fields"])
    assert api.get("/users?limit=0", headers=admin).status_code == 400
    assert api.get("/users?cursor=%%%", headers=admin).status_code == 400


def test_scope_follows_the_org_tree(api, org):
    a, b = org["a"], org["b"]
    assert api.get(f"/users/{a['sales']['id']}", headers=bearer(a["mtoken"])).status_code == 200
    assert api.get(f"/users/{b['sales']['id']}", headers=bearer(a["mtoken"])).status_code == 404
    assert api.get(f"/org-units/{b['region']['id']}",
                   headers=bearer(a["mtoken"])).status_code == 404
    listed = api.get("/users?limit=500", headers=bearer(a["mtoken"])).json()["items"]
    ids = {u["id"] for u in listed}
    assert a["sales"]["id"] in ids and b["sales"]["id"] not in ids
    admin_attempt = api.post("/users", headers=bearer(a["mtoken"]), json={
        "username": unique("adm"), "password": "admin-pass-12", "display_name": "x",
        "roles": ["admin"], "org_unit_id": a["region"]["id"]})
    assert admin_attempt.status_code == 403
    sales_token = token_of(api, a["sales"]["username"], "sales-pass-12")
    assert api.post("/users", headers=bearer(sales_token), json={
        "username": unique("x"), "password": "some-pass-123", "display_name": "x",
        "roles": ["analyst"], "org_unit_id": a["region"]["id"]}).status_code == 403
    assert api.patch(f"/users/{a['manager']['id']}", headers=bearer(sales_token),
                     json={"display_name": "hacked"}).status_code == 403


def test_duplicate_username_is_409(api, admin, org):
    reply = api.post("/users", headers=admin, json={
        "username": org["a"]["sales"]["username"].upper(), "password": "some-pass-123",
        "display_name": "x", "roles": ["analyst"], "org_unit_id": 1})
    assert reply.status_code == 409
    assert reply.json()["error"]["fields"] == {"username": ["already taken"]}


def test_idempotency_key_replays_the_create(api, admin):
    body = {"name": unique("区"), "kind": "region", "parent_id": 1}
    headers = {**admin, "Idempotency-Key": unique("idem-")}
    first = api.post("/org-units", headers=headers, json=body)
    second = api.post("/org-units", headers=headers, json=body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    other = api.post("/org-units", headers=headers, json={**body, "name": unique("区")})
    assert other.status_code == 409


def test_logout_refresh_and_deactivation_revoke_tokens(api, admin):
    user = api.post("/users", headers=admin, json={
        "username": unique("u"), "password": "user-pass-123", "display_name": "用户",
        "roles": ["analyst"], "org_unit_id": 1}).json()
    pair = api.post("/auth/token", json={"username": user["username"],
                                         "password": "user-pass-123"}).json()
    refreshed = api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200
    token = refreshed.json()["access_token"]
    assert api.post("/auth/logout", headers=bearer(token)).status_code == 200
    assert wait_until(lambda: api.get("/me", headers=bearer(token)).status_code == 401)
    fresh = token_of(api, user["username"], "user-pass-123")
    assert api.get("/me", headers=bearer(fresh)).status_code == 200
    assert api.patch(f"/users/{user['id']}", headers=admin,
                     json={"active": False}).status_code == 200
    assert wait_until(lambda: api.get("/me", headers=bearer(fresh)).status_code == 401)
    assert api.post("/auth/token", json={"username": user["username"],
                                         "password": "user-pass-123"}).status_code == 401


def test_lockout_after_repeated_failures(api, admin):
    user = api.post("/users", headers=admin, json={
        "username": unique("l"), "password": "user-pass-123", "display_name": "x",
        "roles": ["analyst"], "org_unit_id": 1}).json()
    for _ in range(5):
        assert api.post("/auth/token", json={"username": user["username"],
                                             "password": "wrong"}).status_code == 401
    locked = api.post("/auth/token", json={"username": user["username"],
                                           "password": "user-pass-123"})
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "account_locked"


def test_reassign_and_audit(api, admin, org):
    a = org["a"]
    leaver = api.post("/users", headers=bearer(a["mtoken"]), json={
        "username": unique("lv"), "password": "leaver-pass-1", "display_name": "离职",
        "roles": ["field_sales"], "org_unit_id": a["region"]["id"],
        "manager_id": a["manager"]["id"]}).json()
    reply = api.post(f"/users/{leaver['id']}/reassign", headers=bearer(a["mtoken"]),
                     json={"to_user_id": a["sales"]["id"]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["event_id"]
    outsider = api.post(f"/users/{leaver['id']}/reassign", headers=bearer(org["b"]["mtoken"]),
                        json={"to_user_id": org["b"]["sales"]["id"]})
    assert outsider.status_code == 404
    audit = api.get(f"/audit?resource=user&id={leaver['id']}", headers=admin).json()["items"]
    assert [e["action"] for e in audit] == ["reassign", "create"]


def test_moving_a_region_cuts_off_old_tokens_and_refresh_gets_the_new_path(api, admin, org):
    b = org["b"]
    holder = api.post("/org-units", headers=admin, json={
        "name": unique("新大区"), "kind": "region", "parent_id": 1}).json()
    city = api.post("/org-units", headers=admin, json={
        "name": "杭州", "kind": "city", "parent_id": b["region"]["id"]}).json()
    user = api.post("/users", headers=admin, json={
        "username": unique("mv"), "password": "mover-pass-1", "display_name": "x",
        "roles": ["field_sales"], "org_unit_id": city["id"]}).json()
    pair = api.post("/auth/token", json={"username": user["username"],
                                         "password": "mover-pass-1"}).json()
    time.sleep(1.1)  # token times have one-second resolution
    moved = api.patch(f"/org-units/{city['id']}", headers=admin,
                      json={"parent_id": holder["id"]})
    assert moved.status_code == 200 and moved.json()["path"].startswith(holder["path"])
    assert wait_until(lambda: api.get("/me", headers=bearer(pair["access_token"]))
                      .status_code == 401)
    new = api.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).json()
    assert api.get("/me", headers=bearer(new["access_token"])).json()["org_path"] == \
        moved.json()["path"]
