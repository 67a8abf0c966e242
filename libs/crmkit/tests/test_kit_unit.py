"""Pure logic of the kit: no database, no broker."""
import time

import pytest
from marshmallow import Schema, fields

from crmkit import errors, scope
from crmkit.context import Caller
from crmkit.database import translate_db_error
from crmkit.fields import Id, Text
from crmkit.pagination import PageQuerySchema, decode_cursor, encode_cursor, page
from crmkit.settings import TokenSettings
from crmkit.tokens import TokenVerifier, issue_access_token, verify_access_token
from crmkit.validation import flatten_messages, load

TOKENS = TokenSettings(secret="s" * 40, access_ttl=60, refresh_ttl=3600)


class Address(Schema):
    city = Text(required=True)


class Sample(Schema):
    name = Text(required=True, max_length=5)
    ref = Id()
    address = fields.Nested(Address)


def test_validation_reports_each_bad_field_with_dotted_names():
    with pytest.raises(errors.ValidationFailed) as info:
        load(Sample(), {"name": "toolong", "ref": "7", "address": {}, "extra": 1})
    assert set(info.value.fields) == {"name", "ref", "address.city", "extra"}


def test_validation_rejects_non_objects_and_control_characters():
    with pytest.raises(errors.ValidationFailed):
        load(Sample(), ["not", "an", "object"])
    with pytest.raises(errors.ValidationFailed) as info:
        load(Sample(), {"name": "a\x00b"})
    assert "name" in info.value.fields


def test_text_trims_and_keeps_chinese():
    assert load(Sample(), {"name": "  华东大区 "})["name"] == "华东大区"


def test_id_bounds():
    with pytest.raises(errors.ValidationFailed):
        load(Sample(), {"name": "a", "ref": 2**63})
    with pytest.raises(errors.ValidationFailed):
        load(Sample(), {"name": "a", "ref": 0})


def test_flatten_nested_lists():
    assert flatten_messages({"lines": {0: {"qty": ["bad"]}}}) == {"lines.0.qty": ["bad"]}


def test_cursor_round_trip_and_garbage():
    assert decode_cursor(encode_cursor(42)) == 42
    with pytest.raises(errors.ValidationFailed):
        load(PageQuerySchema(), {"cursor": "!!!"})
    with pytest.raises(errors.ValidationFailed):
        load(PageQuerySchema(), {"limit": "501"})
    assert load(PageQuerySchema(), {})["limit"] == 50


def test_page_sets_next_cursor_only_when_more_rows_exist():
    assert page([{"id": 1}, {"id": 2}], 2)["next_cursor"] is None
    result = page([{"id": 1}, {"id": 2}, {"id": 3}], 2)
    assert [i["id"] for i in result["items"]] == [1, 2]
    assert decode_cursor(result["next_cursor"]) == 2


def test_subtree_and_direct_report_rules():
    manager = Caller(user_id=5, roles=frozenset({"region_manager"}), org_path="/1/2/")
    assert scope.caller_sees_path(manager, "/1/2/7/")
    assert not scope.caller_sees_path(manager, "/1/3/")
    assert not scope.caller_sees_path(manager, "/1/")
    assert not scope.is_within("/1/20/", "/1/2/")  # prefix of digits is not a subtree
    assert scope.may_assign_to(manager, 9, assignee_manager_id=5)
    assert not scope.may_assign_to(manager, 9, assignee_manager_id=7)  # skip level
    assert scope.may_assign_to(manager, 5, assignee_manager_id=1)  # oneself


def test_context_round_trip():
    caller = Caller(user_id=3, roles=frozenset({"vp", "analyst"}), org_unit_id=1,
                    org_path="/1/", session_id="abc")
    assert Caller.from_context_data(caller.to_context_data()) == caller


def test_token_round_trip_expiry_and_forgery():
    caller = Caller(user_id=3, roles=frozenset({"vp"}), org_unit_id=1, org_path="/1/",
                    session_id="sid")
    token = issue_access_token(TOKENS, caller)
    assert verify_access_token(TOKENS, token)[0] == caller
    with pytest.raises(errors.NotAuthenticated) as info:
        verify_access_token(TOKENS, issue_access_token(TOKENS, caller, now=time.time() - 120))
    assert info.value.code == "token_expired"
    forged = issue_access_token(TokenSettings("t" * 40, 60, 60), caller)
    with pytest.raises(errors.NotAuthenticated):
        verify_access_token(TOKENS, forged)
    with pytest.raises(errors.NotAuthenticated):
        verify_access_token(TOKENS, "not.a.token")


def test_the_verifier_remembers_accepted_tokens_until_they_expire():
    caller = Caller(user_id=3, roles=frozenset({"vp"}), org_unit_id=1, org_path="/1/",
                    session_id="sid")
    verifier = TokenVerifier(TOKENS, max_entries=2)
    # Issued (whole seconds) so that it expires 1-2 s from now.
    issued = int(time.time()) - TOKENS.access_ttl + 2
    token = issue_access_token(TOKENS, caller, now=issued)
    assert verifier.verify(token)[0] == caller
    assert verifier.verify(token)[0] == caller  # from memory
    # One byte changed in the signature of an accepted token is verified, and refused.
    head, _, signature = token.rpartition(".")
    tampered = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with pytest.raises(errors.NotAuthenticated) as info:
        verifier.verify(tampered)
    assert info.value.code == "invalid_token"
    for user_id in (4, 5):  # the oldest makes room
        verifier.verify(issue_access_token(TOKENS, Caller(
            user_id=user_id, roles=frozenset(), org_unit_id=1, org_path="/1/",
            session_id=f"s{user_id}")))
    assert token not in verifier._accepted and len(verifier._accepted) == 2
    verifier.verify(token)  # verified again in full, still valid
    time.sleep(max(0.0, issued + TOKENS.access_ttl - time.time()) + 0.05)
    with pytest.raises(errors.NotAuthenticated) as info:
        verifier.verify(token)
    assert info.value.code == "token_expired"


def test_typed_errors_survive_the_wire_format():
    from nameko.exceptions import serialize
    error = errors.Conflict("taken", {"username": ["already taken"]}, code="duplicate_username")
    rebuilt = errors.error_from_wire(serialize(error))
    assert type(rebuilt) is errors.Conflict
    assert (rebuilt.code, rebuilt.fields, rebuilt.message) == (
        "duplicate_username", {"username": ["already taken"]}, "taken")
    assert errors.error_from_wire(serialize(ValueError("boom"))) is None


def test_field_rules_take_the_most_permissive_role_and_mask():
    from crmkit.errors import Forbidden
    from crmkit.field_rules import check_writable, mask
    rules = {("channel_owner", "partner", "credit_limit"): "read_only",
             ("field_sales", "partner", "credit_limit"): "hidden",
             ("analyst", "customer", "phone"): "masked"}

    def caller(*roles):
        return Caller(user_id=1, roles=frozenset(roles), org_path="/1/")
    record = {"name": "A", "credit_limit": "10.00"}
    assert "credit_limit" not in mask(rules, caller("field_sales"), "partner", record)
    assert mask(rules, caller("field_sales", "region_manager"), "partner", record) == record
    assert mask(rules, caller("analyst"), "customer", {"phone": "13800138000"}) == \
        {"phone": "138****8000"}
    with pytest.raises(Forbidden) as refused:
        check_writable(rules, caller("channel_owner"), "partner",
                       {"credit_limit": 1, "name": "B"})
    assert list(refused.value.fields) == ["credit_limit"]
    check_writable(rules, caller("channel_owner"), "partner", {"name": "B"})


def test_a_nul_character_psycopg2_refuses_is_bad_input_not_a_crash():
    refused = ValueError("A string literal cannot contain NUL (0x00) characters.")
    assert isinstance(translate_db_error(refused), errors.ValidationFailed)
    other = ValueError("something else")
    assert translate_db_error(other) is other


def _delivered(body, content_type="application/json"):
    from kombu.message import Message
    return Message(body=body, content_type=content_type, content_encoding="utf-8")


def test_a_delivered_event_keeps_the_json_text_it_was_parsed_from():
    from crmkit.entrypoints import decode_event
    text = '{"event_id": "e1", "data": {"partner_name": "华东经销商", "n": 1}}'
    for body in (text, text.encode()):  # py-amqp hands over text; bytes are accepted too
        event = decode_event(_delivered(body))
        assert event == {"event_id": "e1", "data": {"partner_name": "华东经销商", "n": 1}}
        assert event.raw_json == text


def test_kombu_still_decodes_what_is_not_a_plain_json_event():
    from datetime import UTC, datetime

    from kombu.exceptions import DecodeError
    from kombu.utils.json import dumps

    from crmkit.entrypoints import decode_event
    when = datetime(2031, 1, 1, tzinfo=UTC)
    revived = decode_event(_delivered(dumps({"at": when})))  # kombu's own type markers
    assert revived == {"at": when} and not hasattr(revived, "raw_json")
    assert decode_event(_delivered("[1, 2]")) == [1, 2]
    assert decode_event(_delivered("plain words", "text/plain")) == "plain words"
    with pytest.raises(DecodeError):  # as kombu's own decoding always failed
        decode_event(_delivered("{not json"))
