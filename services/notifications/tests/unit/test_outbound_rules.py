"""Outbound rules with no I/O: which webhook URLs are refused, the signature, backoff, and
which template wordings are accepted."""
import hashlib
import hmac

import pytest

from notifications.deliveries import backoff
from notifications.outbound import signature
from notifications.settings import outbound_settings
from notifications.templates import render, wording_problems
from notifications.webhook_urls import url_problem

DENIED = frozenset({5432, 5672, 15672, 8000})
PLAIN = "must be plain ASCII without spaces or control characters"


@pytest.mark.parametrize("url,allow_private,problem", [
    ("https://93.184.216.34/hook", False, None),
    ("http://127.0.0.1:9999/hook", True, None),
    ("ftp://93.184.216.34/x", False, "must be an http or https URL"),
    ("https://user:pw@93.184.216.34/", False, "must not carry credentials"),
    ("http://127.0.0.1:15672/api/users", True, "points to one of the system's own ports (15672)"),
    ("http://10.0.0.5:5432/", True, "points to one of the system's own ports (5432)"),
    ("http://127.0.0.1:9999/hook", False, "points to a private or loopback address"),
    ("http://169.254.169.254/latest/meta-data", True, "points to a link-local or reserved address"),
    ("http://[::1]:8000/", True, "points to one of the system's own ports (8000)"),
    ("http:///nohost", False, "must name a host"),
    ("https://93.184.216.34:99999/", False, "not a valid URL"),
    ("http://93.184.216.34/a b", False, PLAIN),
    ("http://93.184.216.34/hooké", False, PLAIN),
    ("http://93.184.216.34/h\x00", False, PLAIN),
    ("http://100.100.100.200/meta", True, "points to a link-local or reserved address"),
    ("http://[::ffff:169.254.169.254]/", True, "points to a link-local or reserved address"),
])
def test_webhook_urls(url, allow_private, problem):
    assert url_problem(url, DENIED, allow_private) == problem


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    expected = hmac.new(b"s3cret-s3cret-16", b"1700000000.{\"a\":1}", hashlib.sha256).hexdigest()
    assert signature("s3cret-s3cret-16", "1700000000", b'{"a":1}') == f"sha256={expected}"


def test_backoff_doubles_up_to_the_cap(monkeypatch):
    monkeypatch.setenv("CRM_DELIVERY_RETRY_BASE_S", "30")
    monkeypatch.setenv("CRM_DELIVERY_RETRY_MAX_S", "100")
    settings = outbound_settings()
    assert [backoff(n, settings).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 100, 100]


def test_wordings_may_use_only_the_kinds_variables():
    assert wording_problems("reminder", "待办：{subject}", "{subject}，{due_at}") == {}
    assert "unknown variable {amount}" in wording_problems("reminder", "{amount}", "x")["title"][0]
    assert wording_problems("reminder", "{subject!r}", "x")["title"] == [
        "use plain {name} placeholders, without formats"]
    assert "not a valid template" in wording_problems("reminder", "x", "{")["body"][0]
    assert render("reminder", "en", {"subject": "call"}, {"en": ("Todo: {subject}", "-")}) == (
        "Todo: call", "-")
