"""Fixtures of reporting's integration tests: the real services reports are fed by
(accounts, channels, visits, service_tickets) and reporting, and teams in new regions."""
import pytest

from crmkit.context import Caller
from crmkit.testing import ADMIN, unique

SERVICES = ("accounts", "channels", "visits", "service_tickets", "reporting")


@pytest.fixture(scope="package")
def running(migrated, nameko_config, object_store):
    """Every service the reports are fed by, started once for these tests."""
    from nameko.containers import ServiceContainer

    from crmkit.bus import service_class
    for service in SERVICES:
        migrated(service)
    # Imported here: service modules read settings the root conftest sets first.
    from accounts.bootstrap import bootstrap
    bootstrap("admin-test-password")
    containers = [ServiceContainer(service_class(s), nameko_config) for s in SERVICES]
    for container in containers:
        container.start()
    yield
    for container in containers:
        container.stop()


@pytest.fixture
def system(running, rpc_as):
    """`system(caller, service)`: an RPC proxy calling as that caller."""
    return rpc_as


@pytest.fixture
def region(system):
    """`region()`: a new region under HQ with its manager (reporting to the admin), a
    channel owner and a field salesperson (both reporting to the manager)."""
    def make() -> dict:
        accounts = system(ADMIN, "accounts")
        unit = accounts.create_org_unit(data={"name": unique("大区"), "kind": "region",
                                              "parent_id": 1})
        made = {"region": unit}
        for key, role, manager in (("manager", "region_manager", None),
                                   ("owner", "channel_owner", "manager"),
                                   ("sales", "field_sales", "manager")):
            user = accounts.create_user(data={
                "username": unique(key), "password": "a-good-password",
                "display_name": unique(key), "roles": [role], "org_unit_id": unit["id"],
                "manager_id": made[manager].user_id if manager else 1})
            made[key] = Caller(user_id=user["id"], roles=frozenset([role]),
                               org_unit_id=unit["id"], org_path=unit["path"])
            made[f"{key}_name"] = user["display_name"]
        return made
    return make


@pytest.fixture
def channel_form(system):
    """`channel_form(team, month, share)`: a partner of the team's channel owner, one of its
    stores and the partner's inspection form of that month, made by the team's manager."""
    def make(team: dict, month: str, share="35.50"):
        manager = system(team["manager"], "channels")
        partner = manager.create_partner(data={
            "code": unique("P"), "name": unique("渠道商"), "kind": "chain",
            "owner_id": team["owner"].user_id, "channel_share": share})
        store = manager.create_store(data={"code": unique("S"), "name": "店",
                                           "partner_id": partner["id"],
                                           "owner_id": team["owner"].user_id})
        form = manager.create_inspection(data={"partner_id": partner["id"], "month": month,
                                               "store_ids": [store["id"]]})
        return partner, store, form
    return make
