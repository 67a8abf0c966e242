"""Reports sent one level up: only to the sender's direct manager, who is told and
comments back down; nobody else sees the submission."""
import pytest

from crmkit import errors
from crmkit.testing import ADMIN


def test_a_report_goes_to_the_direct_manager_who_comments_back(system, region, event_tap):
    team, sibling = region(), region()
    submitted = event_tap("reporting", "report_submitted", "report_commented")
    owner = system(team["owner"], "reporting")

    sent = owner.submit_report(data={"report": "channels", "month": "2031-06",
                                     "note": "六月渠道报表，请审阅"})
    assert (sent["sender_id"], sent["recipient_id"]) == (team["owner"].user_id,
                                                         team["manager"].user_id)
    assert sent["recipient_name"] == team["manager_name"] and sent["comments"] == []
    assert sent["summary"]["amount"] == "0.00"
    event = submitted.wait_for(lambda e: e["type"] == "report_submitted"
                               and e["data"]["submission_id"] == sent["id"])
    assert event is not None and event["data"]["recipient_id"] == team["manager"].user_id
    assert {"report", "month", "note", "sender_id", "sender_name", "summary",
            "submitted_at"} <= set(event["data"])

    # Naming anyone but the direct manager is a skip-level send: refused, nothing stored.
    for skipped in (1, sibling["manager"].user_id):
        with pytest.raises(errors.Forbidden) as refused:
            owner.submit_report(data={"report": "visits", "month": "2031-06",
                                      "recipient_id": skipped})
        assert refused.value.code == "skip_level" and "recipient_id" in refused.value.fields
    with pytest.raises(errors.ValidationFailed) as bad:
        owner.submit_report(data={"report": "sales", "month": "2031-13"})
    assert {"report", "month"} <= set(bad.value.fields)

    manager = system(team["manager"], "reporting")
    received = manager.list_report_submissions(query={"box": "received"})["items"]
    assert [s["id"] for s in received] == [sent["id"]]
    assert manager.list_report_submissions(query={"box": "sent"})["items"] == []
    answer = manager.comment_on_report(sent["id"], data={"text": "华南数据请补充"})
    assert answer["author_id"] == team["manager"].user_id
    event = submitted.wait_for(lambda e: e["type"] == "report_commented"
                               and e["data"]["comment_id"] == answer["id"])
    assert event is not None and event["data"]["recipient_id"] == team["owner"].user_id
    mine = owner.get_report_submission(sent["id"])
    assert [c["text"] for c in mine["comments"]] == ["华南数据请补充"]

    for outsider in (sibling["manager"], team["sales"]):
        with pytest.raises(errors.NotFound):
            system(outsider, "reporting").get_report_submission(sent["id"])
        with pytest.raises(errors.NotFound):
            system(outsider, "reporting").comment_on_report(sent["id"], data={"text": "?"})
    # The manager sends up in turn, to the admin (their own manager).
    upward = manager.submit_report(data={"report": "channels", "month": "2031-06"})
    assert upward["recipient_id"] == 1
    assert sent["id"] not in [s["id"] for s in system(ADMIN, "reporting")
                              .list_report_submissions()["items"]]
