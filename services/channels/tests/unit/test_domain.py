"""Channel rules with no I/O: maintenance rights, the form workflow, review from above."""

from channels import domain
from crmkit.context import Caller
from crmkit.directory import Person


def caller(*roles, user_id=10, path="/1/2/"):
    return Caller(user_id=user_id, roles=frozenset(roles), org_path=path)


def person(user_id, path, manager_id=None, roles=("channel_owner",)):
    return Person(user_id=user_id, display_name="x", org_unit_id=1, org_path=path,
                  manager_id=manager_id, roles=frozenset(roles), active=True)


def test_channel_owners_maintain_only_their_own_records():
    assert domain.may_maintain(caller("channel_owner"), 10)
    assert not domain.may_maintain(caller("channel_owner"), 11)
    assert domain.may_maintain(caller("region_manager"), 11)
    assert not domain.may_maintain(caller("field_sales"), 10)
    assert not domain.may_assign_owner(caller("channel_owner"), 11)


def test_the_form_moves_only_forward():
    assert domain.transition_problem("submit", "draft") is None
    assert domain.transition_problem("submit", "submitted")
    assert domain.transition_problem("review", "draft")
    assert domain.transition_problem("review", "submitted") is None
    assert domain.transition_problem("review", "reviewed")


def test_review_needs_someone_above_the_submitter():
    submitter = person(20, "/1/2/5/", manager_id=30)
    same_unit_manager = person(30, "/1/2/5/", roles=("region_manager",))
    above = person(40, "/1/2/", roles=("region_manager",))
    sibling = person(50, "/1/3/", roles=("region_manager",))
    as_manager = caller("region_manager", user_id=30, path="/1/2/5/")
    assert domain.review_problem(as_manager, same_unit_manager, submitter, [30]) is None
    assert domain.review_problem(caller("region_manager", user_id=40), above, submitter,
                                 [30]) is None
    assert domain.review_problem(caller("region_manager", user_id=50, path="/1/3/"),
                                 sibling, submitter, [30])
    assert domain.review_problem(caller("channel_owner", user_id=40), above, submitter, [30])
    assert domain.review_problem(caller("admin", user_id=20), submitter, submitter, [30])
