"""Notices leave the system for real: e-mail to a local SMTP server (aiosmtpd), SMS to an
HTTP provider and webhooks to a partner system (a local receiver process), with retries
when the receiver fails and the delivery log to show it."""
import json
import mailbox
import os
import subprocess
import sys
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from accounts.service import AccountsService
from crmkit import errors
from crmkit.context import Caller
from crmkit.testing import ADMIN, free_port, unique, wait_until
from notifications.outbound import signature
from notifications.service import NotificationsService

RECEIVER = Path(__file__).resolve().parents[1] / "receiver.py"


def _wait_listening(port: int) -> None:
    import socket

    def up():
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0
    assert wait_until(up, timeout=15), f"nothing listens on {port}"


@pytest.fixture
def outside(tmp_path):
    """The SMTP server and the HTTP receiver (its /hook fails twice with 500)."""
    maildir = tmp_path / "mail"
    log = tmp_path / "received.jsonl"
    smtp_port = int(os.environ["CRM_SMTP_PORT"])
    http_port = urlsplit(os.environ["CRM_SMS_URL"]).port
    processes = [
        subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l",
                          f"127.0.0.1:{smtp_port}", "-c", "aiosmtpd.handlers.Mailbox",
                          str(maildir)]),
        subprocess.Popen([sys.executable, str(RECEIVER), str(http_port), str(log),
                          "/hook=2", "/moved>/inside"]),
    ]
    for port in (smtp_port, http_port):
        _wait_listening(port)
    yield {"maildir": maildir, "log": log, "http_port": http_port}
    for process in processes:
        process.terminate()
        process.wait(10)


@pytest.fixture
def system(migrated, start_service, rpc_as):
    for service in ("accounts", "notifications"):
        migrated(service)
    from accounts.bootstrap import bootstrap
    bootstrap("admin-test-password")
    for service_cls in (AccountsService, NotificationsService):
        start_service(service_cls)
    return rpc_as


def _salesperson(rpc_as, prefix: str) -> tuple[dict, Caller]:
    """A field salesperson under the admin: the user and a caller acting as them."""
    user = rpc_as(ADMIN, "accounts").create_user(data={
        "username": unique(prefix), "password": "a-good-password", "display_name": "外勤",
        "roles": ["field_sales"], "org_unit_id": 1, "manager_id": 1})
    return user, Caller(user_id=user["id"], roles=frozenset({"field_sales"}), org_path="/1/")


def _received(log: Path, path: str) -> list[dict]:
    if not log.exists():
        return []
    return [r for r in map(json.loads, log.read_text(encoding="utf-8").splitlines())
            if r["path"] == path]


def _subjects(maildir: Path) -> list[str]:
    if not maildir.exists():
        return []
    return [str(make_header(decode_header(m["Subject"]))) for m in mailbox.Maildir(maildir)]


def test_email_sms_and_a_retried_webhook(system, outside):
    rpc_as = system
    user, me = _salesperson(rpc_as, "out")
    mine, admin = rpc_as(me, "notifications"), rpc_as(ADMIN, "notifications")
    prefs = mine.set_notification_preferences(data={
        "email": "sales@example.com", "email_enabled": True, "phone": "+86 138 0000 1111",
        "sms_enabled": True})
    assert prefs["available_channels"] == ["email", "sms", "webhook"]
    secret = "partner-secret-0123456789"
    hook = admin.create_webhook(data={
        "name": "伙伴系统", "url": f"http://127.0.0.1:{outside['http_port']}/hook",
        "kinds": ["reminder"], "secret": secret})
    assert hook["secret"] == secret
    assert "secret" not in admin.list_webhooks(query={})["items"][0]

    subject = unique("回访客户")
    mine.create_reminder(data={"subject": subject, "due_at": datetime.now(UTC).isoformat()})
    assert wait_until(lambda: f"提醒：{subject}" in _subjects(outside["maildir"]), 15)
    assert wait_until(lambda: any(subject in json.loads(r["body"])["text"]
                                  for r in _received(outside["log"], "/sms")), 15)
    sms = json.loads(_received(outside["log"], "/sms")[-1]["body"])
    assert sms["to"] == "+86 138 0000 1111"

    def hooked():
        return [r for r in _received(outside["log"], "/hook") if subject in r["body"]]
    assert wait_until(lambda: any(r["answered"] == 200 for r in hooked()), 20)
    calls = hooked()
    assert [r["answered"] for r in calls] == [500, 500, 200]
    final = calls[-1]
    headers = {k.lower(): v for k, v in final["headers"].items()}
    assert headers["x-crm-signature"] == signature(secret, headers["x-crm-timestamp"],
                                                   final["body"].encode())
    body = json.loads(final["body"])
    assert body["kind"] == "reminder" and body["user_id"] == user["id"]
    # The same delivery id on every attempt: what a receiver drops repeats by.
    assert len({{k.lower(): v for k, v in r["headers"].items()}["x-crm-delivery"]
                for r in calls}) == 1

    log = admin.list_deliveries(query={"kind": "reminder"})["items"]
    webhook = next(d for d in log if d["channel"] == "webhook"
                   and d["event_id"] == body["event_id"])
    assert webhook["status"] == "sent" and webhook["attempts"] == 3
    with pytest.raises(errors.Forbidden):
        mine.list_deliveries(query={})
    admin.update_webhook(hook["id"], data={"active": False})


def test_redirects_are_not_followed(system, outside):
    rpc_as = system
    user, me = _salesperson(rpc_as, "moved")
    admin = rpc_as(ADMIN, "notifications")
    hook = admin.create_webhook(data={
        "name": "moved", "kinds": ["reminder"],
        "url": f"http://127.0.0.1:{outside['http_port']}/moved"})
    rpc_as(me, "notifications").create_reminder(data={
        "subject": unique("跳转"), "due_at": datetime.now(UTC).isoformat()})

    def failed():
        return [d for d in admin.list_deliveries(query={"channel": "webhook"})["items"]
                if d["subscription_id"] == hook["id"] and d["status"] == "failed"]
    assert wait_until(lambda: bool(failed()), 15)
    assert failed()[0]["attempts"] == 1 and "redirects" in failed()[0]["last_error"]
    assert _received(outside["log"], "/inside") == []
    admin.update_webhook(hook["id"], data={"active": False})


def test_a_dead_receiver_is_retried_then_marked_failed_and_the_inbox_keeps_the_notice(
        system):
    rpc_as = system
    user, me = _salesperson(rpc_as, "dead")
    admin = rpc_as(ADMIN, "notifications")
    hook = admin.create_webhook(data={"name": "down", "kinds": ["reminder"],
                                      "url": f"http://127.0.0.1:{free_port()}/gone"})
    subject = unique("无人接收")
    rpc_as(me, "notifications").create_reminder(data={
        "subject": subject, "due_at": datetime.now(UTC).isoformat()})

    def failed():
        return [d for d in admin.list_deliveries(query={"channel": "webhook"})["items"]
                if d["subscription_id"] == hook["id"] and d["status"] == "failed"]
    assert wait_until(lambda: bool(failed()), 20)
    assert failed()[0]["attempts"] == 4 and "unreachable" in failed()[0]["last_error"]
    inbox = rpc_as(me, "notifications").list_notifications(query={})["items"]
    assert subject in inbox[0]["title"]
    admin.update_webhook(hook["id"], data={"active": False})


def test_bad_outbound_settings_are_refused(system):
    rpc_as = system
    admin = rpc_as(ADMIN, "notifications")
    for url, problem in (("ftp://example.com/x", "http or https"),
                         ("http://127.0.0.1:15672/api", "own ports"),
                         ("http://169.254.169.254/latest", "link-local")):
        with pytest.raises(errors.ValidationFailed) as bad:
            admin.create_webhook(data={"name": "x", "url": url, "kinds": ["reminder"]})
        assert problem in bad.value.fields["url"][0]
    with pytest.raises(errors.ValidationFailed) as unknown_kind:
        admin.create_webhook(data={"name": "x", "url": "http://127.0.0.1:9/x",
                                   "kinds": ["nope"]})
    assert "kinds.0" in unknown_kind.value.fields
    sales = Caller(user_id=424242, roles=frozenset({"field_sales"}), org_path="/1/")
    with pytest.raises(errors.Forbidden):
        rpc_as(sales, "notifications").create_webhook(data={
            "name": "x", "url": "http://127.0.0.1:9/x", "kinds": ["reminder"]})
    with pytest.raises(errors.ValidationFailed) as no_address:
        rpc_as(sales, "notifications").set_notification_preferences(data={"sms_enabled": True})
    assert "phone" in no_address.value.fields
    with pytest.raises(errors.ValidationFailed) as missing_variable:
        admin.set_notification_template("reminder", data={
            "locale": "en", "title": "Due: {subject}", "body": "{subject} for {customer}"})
    assert "{customer}" in missing_variable.value.fields["body"][0]
    saved = admin.set_notification_template("ticket_dispatched", data={
        "locale": "en", "title": "Ticket {ticket_id}", "body": "{fault} (due {due_at})"})
    assert saved["customised"] is True
    listed = admin.list_notification_templates()["items"]
    assert {"kind": "ticket_dispatched", "locale": "en", "title": "Ticket {ticket_id}",
            "body": "{fault} (due {due_at})", "customised": True} in listed
