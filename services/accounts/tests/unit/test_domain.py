"""Identity rules without I/O."""
from datetime import UTC, datetime, timedelta

from accounts import domain
from crmkit.context import Caller

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def caller(*roles, path="/1/2/"):
    return Caller(user_id=10, roles=frozenset(roles), org_path=path)


def test_only_admins_grant_admin_and_managers_grant_below_their_rank():
    assert domain.grant_problems(caller("admin"), ["admin"]) == []
    assert domain.grant_problems(caller("vp"), ["admin"])
    assert domain.grant_problems(caller("region_manager"), ["field_sales", "channel_owner"]) == []
    assert domain.grant_problems(caller("region_manager"), ["region_manager"])
    assert domain.grant_problems(caller("hq_head"), ["region_manager"]) == []
    assert domain.grant_problems(caller("field_sales"), ["analyst"])


def test_managers_manage_their_subtree_only_and_only_lower_ranks():
    rm = caller("region_manager")
    assert domain.may_manage_user(rm, "/1/2/5/", ["field_sales"])
    assert not domain.may_manage_user(rm, "/1/3/", ["field_sales"])  # sibling region
    assert not domain.may_manage_user(rm, "/1/2/", ["region_manager"])  # same rank
    assert not domain.may_manage_users_at(caller("field_sales"), "/1/2/")


def test_only_admins_bind_users_to_a_partner_company():
    assert domain.partner_binding_problem(caller("admin"), None, 7) is None
    assert domain.partner_binding_problem(caller("region_manager"), None, 7)
    assert domain.partner_binding_problem(caller("hq_head"), 7, 8)
    assert domain.partner_binding_problem(caller("region_manager"), 7, 7) is None
    assert domain.partner_binding_problem(caller("region_manager"), 7, None) is None
    assert domain.partner_binding_problem(caller("region_manager"), None, None) is None


def test_visibility_of_org_units_includes_own_chain_not_siblings():
    rm = caller("region_manager")
    assert domain.may_see_org_unit(rm, "/1/")
    assert domain.may_see_org_unit(rm, "/1/2/9/")
    assert not domain.may_see_org_unit(rm, "/1/3/")


def test_org_tree_shape():
    assert domain.parent_kind_problem("hq", None) is None
    assert domain.parent_kind_problem("region", "hq") is None
    assert domain.parent_kind_problem("region", "city")
    assert domain.parent_kind_problem("city", None)


def test_rebase_path_moves_descendants():
    assert domain.rebase_path("/1/2/5/9/", "/1/2/5/", "/1/3/5/") == "/1/3/5/9/"


def test_manager_must_sit_at_or_above_the_user():
    assert domain.manager_placement_problem("/1/", "/1/2/") is None
    assert domain.manager_placement_problem("/1/2/", "/1/2/") is None
    assert domain.manager_placement_problem("/1/3/", "/1/2/")


def test_lockout_after_max_failures():
    failed, locked = 0, None
    for _ in range(4):
        failed, locked = domain.next_lockout(failed, NOW, 5, 900)
        assert locked is None
    failed, locked = domain.next_lockout(failed, NOW, 5, 900)
    assert locked == NOW + timedelta(seconds=900) and failed == 0
    assert domain.is_locked(locked, NOW) and not domain.is_locked(locked, locked)
