"""Customers over real RPC with the real database: personal scope, duplicate detection in
PostgreSQL (pg_trgm), merge, transfer, field permissions."""
import uuid

import pytest

from accounts.service import AccountsService
from crmkit import errors
from crmkit.context import Caller
from crmkit.testing import ADMIN, unique


@pytest.fixture
def accounts(migrated, start_service, rpc_as):
    migrated("accounts")
    from accounts.bootstrap import bootstrap
    bootstrap("admin-test-password")
    start_service(AccountsService)
    return lambda caller=ADMIN, **ctx: rpc_as(caller, "accounts", **ctx)


def _region(rpc):
    region = rpc().create_org_unit(data={"name": unique("大区"), "kind": "region",
                                         "parent_id": 1})
    made, manager_id = {}, 1
    for key, role in (("manager", "region_manager"), ("sales", "field_sales"),
                      ("peer", "field_sales"), ("analyst", "analyst")):
        user = rpc().create_user(data={
            "username": unique(key[:3]), "password": "a-good-password", "display_name": key,
            "roles": [role], "org_unit_id": region["id"], "manager_id": manager_id})
        made[key] = Caller(user_id=user["id"], roles=frozenset([role]),
                           org_unit_id=region["id"], org_path=region["path"])
        if key == "manager":
            manager_id = user["id"]
    return made


def _company():
    return f"杭州{uuid.uuid4().hex[:6]}智能科技"


def test_customers_are_personal_and_codes_generated(accounts):
    team = _region(accounts)
    sales = accounts(team["sales"])
    customer = sales.create_customer(data={"name": _company() + "有限公司", "grade": "A",
                                           "phone": "+86 138-0013-8000"})
    assert customer["code"].startswith("C20") and customer["owner_id"] == team["sales"].user_id
    with pytest.raises(errors.NotFound):  # field sales never see each other's customers
        accounts(team["peer"]).get_customer(customer_id=customer["id"])
    assert accounts(team["manager"]).get_customer(customer_id=customer["id"])["id"] == \
        customer["id"]
    sales.update_customer(customer_id=customer["id"],
                          data={"team_member_ids": [team["peer"].user_id]})
    assert accounts(team["peer"]).get_customer(customer_id=customer["id"])["grade"] == "A"
    with pytest.raises(errors.NotFound):  # analysts are not in the team either
        accounts(team["analyst"]).get_customer(customer_id=customer["id"])
    with pytest.raises(errors.Conflict):  # no cycles in a group
        child = sales.create_customer(data={"name": _company(), "parent_id": customer["id"]},
                                      query={"allow_duplicate": "true"})
        sales.update_customer(customer_id=customer["id"], data={"parent_id": child["id"]})


def test_duplicates_are_found_by_name_phone_and_tax_id(accounts):
    team = _region(accounts)
    sales = accounts(team["sales"])
    base = _company()
    original = sales.create_customer(data={"name": f"{base}股份有限公司",
                                           "tax_id": "91330100MA2AXXXX1X"})
    with pytest.raises(errors.Conflict) as likely:
        sales.create_customer(data={"name": f"{base} 有限公司"})
    assert likely.value.code == "duplicate_suspected"
    assert likely.value.details["candidates"][0]["id"] == original["id"]
    # Someone who cannot see the original still learns that it exists, not what it is.
    with pytest.raises(errors.Conflict) as hidden:
        accounts(team["peer"]).create_customer(data={"name": "另一家",
                                                     "tax_id": "91330100ma2axxxx1x"})
    candidate = hidden.value.details["candidates"][0]
    assert candidate["visible"] is False and candidate["name"] is None
    assert candidate["reasons"] == ["tax_id"]
    found = sales.find_customer_duplicates(query={"name": f"（{base}）集团"})["items"]
    assert found and found[0]["id"] == original["id"] and "name" in found[0]["reasons"]
    anyway = sales.create_customer(data={"name": f"{base}有限公司"},
                                   query={"allow_duplicate": "true"})
    assert anyway["id"] != original["id"]


def test_merge_moves_contacts_and_members_and_transfer_keeps_history(accounts):
    team = _region(accounts)
    sales = accounts(team["sales"])
    target = sales.create_customer(data={"name": _company()})
    source = sales.create_customer(data={"name": _company(), "phone": "021-6888 1234",
                                         "team_member_ids": [team["peer"].user_id]},
                                   query={"allow_duplicate": "true"})
    sales.add_contact(customer_id=source["id"], data={"name": "王经理",
                                                      "phone": "13900001111"})
    with pytest.raises(errors.ValidationFailed):
        sales.merge_customers(customer_id=target["id"], data={"source_id": target["id"]})
    merged = sales.merge_customers(customer_id=target["id"], data={"source_id": source["id"]})
    assert merged["phone"] == "021-6888 1234"
    assert team["peer"].user_id in merged["team_member_ids"]
    assert [c["name"] for c in sales.list_contacts(customer_id=target["id"])["items"]] == \
        ["王经理"]
    gone = sales.get_customer(customer_id=source["id"])
    assert (gone["status"], gone["merged_into_id"]) == ("merged", target["id"])
    with pytest.raises(errors.Conflict):
        sales.update_customer(customer_id=source["id"], data={"grade": "B"})

    with pytest.raises(errors.Forbidden):  # field sales do not transfer
        sales.transfer_customer(customer_id=target["id"],
                                data={"owner_id": team["peer"].user_id})
    other = _region(accounts)
    with pytest.raises(errors.Forbidden):  # nor does a manager to another region
        accounts(team["manager"]).transfer_customer(
            customer_id=target["id"], data={"owner_id": other["sales"].user_id})
    moved = accounts(team["manager"]).transfer_customer(
        customer_id=target["id"], data={"owner_id": team["peer"].user_id, "note": "离职交接"})
    assert moved["owner_id"] == team["peer"].user_id
    history = accounts(team["manager"]).get_customer_timeline(customer_id=target["id"])
    assert [e["kind"] for e in history["items"]][:2] == ["transfer", "merge"]


def test_field_permissions_mask_and_refuse(accounts):
    team = _region(accounts)
    analyst = team["analyst"]
    customer = accounts().create_customer(data={
        "name": _company(), "phone": "13800138000", "team_member_ids": [analyst.user_id]},
        query={"allow_duplicate": "true"})
    seen = accounts(analyst).get_customer(customer_id=customer["id"])
    assert seen["phone"] == "138****8000"
    with pytest.raises(errors.Forbidden):
        accounts(analyst).update_customer(customer_id=customer["id"], data={"grade": "B"})
    with pytest.raises(errors.Forbidden):  # only admins change the table
        accounts(team["manager"]).set_field_permissions(data={"items": []})
    accounts().set_field_permissions(data={"items": [
        {"role": "analyst", "resource": "customer", "field": "phone", "rule": "hidden"}]})
    try:
        assert "phone" not in accounts(analyst).get_customer(customer_id=customer["id"])
    finally:
        accounts().set_field_permissions(data={"items": [
            {"role": "analyst", "resource": "customer", "field": "phone", "rule": "masked"}]})
