"""The accounts service over real RPC, with its real database."""
import pytest
from nameko.exceptions import IncorrectSignature

from accounts.service import AccountsService
from accounts.settings import load
from crmkit import errors
from crmkit.context import Caller
from crmkit.testing import ADMIN, unique
from crmkit.tokens import verify_access_token


@pytest.fixture
def accounts(migrated, start_service, rpc_as):
    migrated("accounts")
    from accounts.bootstrap import bootstrap
    bootstrap("admin-test-password")
    start_service(AccountsService)
    return lambda caller=ADMIN, **ctx: rpc_as(caller, "accounts", **ctx)


def _region_with_manager(rpc):
    region = rpc().create_org_unit(data={"name": unique("大区"), "kind": "region", "parent_id": 1})
    manager = rpc().create_user(data={
        "username": unique("rm"), "password": "manager-pass-1", "display_name": "区域经理",
        "roles": ["region_manager"], "org_unit_id": region["id"], "manager_id": 1})
    caller = Caller(user_id=manager["id"], roles=frozenset({"region_manager"}),
                    org_unit_id=region["id"], org_path=region["path"])
    return region, manager, caller


def test_login_issues_a_verifiable_token_and_lockout_follows_failures(accounts):
    rpc = accounts
    username = unique("u")
    rpc().create_user(data={"username": username, "password": "right-password-1",
                            "display_name": "张三", "roles": ["analyst"], "org_unit_id": 1})
    anonymous = rpc(None)
    pair = anonymous.issue_token(data={"username": username.upper(),
                                       "password": "right-password-1"})
    caller, _ = verify_access_token(load().tokens, pair["access_token"])
    assert caller.roles == {"analyst"} and caller.org_path == "/1/"
    for _ in range(5):
        with pytest.raises(errors.NotAuthenticated):
            anonymous.issue_token(data={"username": username, "password": "wrong-password"})
    with pytest.raises(errors.TooManyRequests):
        anonymous.issue_token(data={"username": username, "password": "right-password-1"})


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(accounts):
    anonymous = accounts(None)
    pair = anonymous.issue_token(data={"username": "admin", "password": "admin-test-password"})
    second = anonymous.refresh_token(data={"refresh_token": pair["refresh_token"]})
    assert second["refresh_token"] != pair["refresh_token"]
    with pytest.raises(errors.NotAuthenticated):
        anonymous.refresh_token(data={"refresh_token": pair["refresh_token"]})
    with pytest.raises(errors.NotAuthenticated):  # the whole session is gone now
        anonymous.refresh_token(data={"refresh_token": second["refresh_token"]})


def test_region_manager_scope(accounts):
    rpc = accounts
    region_a, _, manager_a = _region_with_manager(rpc)
    region_b, manager_b_user, _ = _region_with_manager(rpc)
    sales = rpc(manager_a).create_user(data={
        "username": unique("fs"), "password": "sales-pass-12", "display_name": "销售",
        "roles": ["field_sales"], "org_unit_id": region_a["id"],
        "manager_id": manager_a.user_id})
    assert rpc(manager_a).get_user(user_id=sales["id"])["display_name"] == "销售"
    with pytest.raises(errors.NotFound):  # sibling region
        rpc(manager_a).get_user(user_id=manager_b_user["id"])
    listed = {u["id"] for u in rpc(manager_a).list_users(query={"limit": "500"})["items"]}
    assert sales["id"] in listed and manager_b_user["id"] not in listed
    with pytest.raises(errors.Forbidden):  # only admins create admins
        rpc(manager_a).create_user(data={
            "username": unique("a"), "password": "admin-pass-123", "display_name": "x",
            "roles": ["admin"], "org_unit_id": region_a["id"]})
    with pytest.raises(errors.ValidationFailed) as hidden:  # another region is invisible
        rpc(manager_a).create_user(data={
            "username": unique("x"), "password": "sales-pass-12", "display_name": "x",
            "roles": ["field_sales"], "org_unit_id": region_b["id"]})
    assert "org_unit_id" in hidden.value.fields
    with pytest.raises(errors.ValidationFailed) as info:  # manager from a sibling region
        rpc().create_user(data={
            "username": unique("x"), "password": "sales-pass-12", "display_name": "x",
            "roles": ["field_sales"], "org_unit_id": region_a["id"],
            "manager_id": manager_b_user["id"]})
    assert "manager_id" in info.value.fields


def test_moving_a_subtree_rebases_every_path_and_refuses_cycles(accounts):
    rpc = accounts
    region, _, _ = _region_with_manager(rpc)
    other, _, _ = _region_with_manager(rpc)
    city = rpc().create_org_unit(data={"name": "杭州", "kind": "city", "parent_id": region["id"]})
    team = rpc().create_org_unit(data={"name": "一组", "kind": "team", "parent_id": city["id"]})
    rpc().update_org_unit(org_unit_id=city["id"], data={"parent_id": other["id"]})
    assert rpc().get_org_unit(org_unit_id=team["id"])["path"] == \
        f"{other['path']}{city['id']}/{team['id']}/"
    with pytest.raises(errors.Conflict):
        rpc().update_org_unit(org_unit_id=city["id"], data={"parent_id": team["id"]})


def test_idempotent_create_replays_and_refuses_a_different_body(accounts):
    rpc = accounts
    data = {"name": unique("区"), "kind": "region", "parent_id": 1}
    first = rpc(idempotency_key="key-1", request_hash="h1").create_org_unit(data=data)
    again = rpc(idempotency_key="key-1", request_hash="h1").create_org_unit(data=data)
    assert again["id"] == first["id"]
    with pytest.raises(errors.Conflict) as info:
        rpc(idempotency_key="key-1", request_hash="h2").create_org_unit(data=data)
    assert info.value.code == "idempotency_key_reused"


def test_every_change_is_audited_without_secrets(accounts):
    rpc = accounts
    user = rpc().create_user(data={"username": unique("u"), "password": "first-password-1",
                                   "display_name": "李四", "roles": ["analyst"],
                                   "org_unit_id": 1})
    rpc().update_user(user_id=user["id"], data={"display_name": "李四四",
                                                "password": "second-password-2"})
    entries = rpc().list_audit(query={"resource": "user", "id": str(user["id"])})["items"]
    assert [e["action"] for e in entries] == ["update", "create"]
    assert entries[0]["before"]["display_name"] == "李四"
    assert entries[0]["after"]["display_name"] == "李四四"
    assert "password" not in str(entries) or "password changed" in str(entries)
    assert "argon2" not in str(entries)


def test_bad_input_is_a_typed_error_never_a_crash(accounts):
    rpc = accounts
    with pytest.raises(errors.ValidationFailed) as info:
        rpc().create_user(data={"username": "x", "roles": "admin"})
    assert {"username", "roles", "password", "display_name", "org_unit_id"} <= \
        set(info.value.fields)
    with pytest.raises(errors.NotFound):
        rpc().get_user(user_id=2**62)
    with pytest.raises(errors.NotAuthenticated):
        rpc(None).get_me()
    with pytest.raises(IncorrectSignature):  # a wrong call shape is reported, not a crash
        rpc().get_user()
