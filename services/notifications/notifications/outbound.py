"""The outbound channels behind one interface: `send(target, payload)` either returns or
raises `SendFailed`, saying whether trying again may help. E-mail goes over SMTP, SMS to
an HTTP provider, webhooks to partner systems signed with HMAC-SHA256 over
`<timestamp>.<body>`."""
import functools
import hashlib
import hmac
import http.client
import json
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit

from notifications.settings import OutboundSettings, outbound_settings
from notifications.webhook_urls import check

SIGNATURE_HEADER = "X-CRM-Signature"
TIMESTAMP_HEADER = "X-CRM-Timestamp"
# HTTP answers worth trying again: the receiver is busy or broken, not our request.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class SendFailed(Exception):
    def __init__(self, reason: str, retryable: bool = True):
        super().__init__(reason)
        self.reason = reason[:500]
        self.retryable = retryable


class Sender(Protocol):
    def send(self, target: str, payload: dict, secret: str | None = None) -> None: ...


class SmtpSender:
    def __init__(self, settings: OutboundSettings):
        self.settings = settings

    def send(self, target: str, payload: dict, secret: str | None = None) -> None:
        message = EmailMessage()
        message["From"], message["To"] = self.settings.mail_from, target
        # A header may not span lines (a reminder's subject is the user's text).
        message["Subject"] = " ".join(payload["title"].split())
        message.set_content(payload["body"])
        s = self.settings
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout_s) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendFailed(f"recipient refused: {exc.recipients}", retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"smtp: {exc}") from None


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a given address, with the certificate checked against the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post_json(url: str, body: bytes, headers: dict, timeout: float,
              address: str | None = None) -> None:
    """POST once. Redirects are not followed (a receiver could point us anywhere, with our
    headers); `address`, when given, is where to connect, whatever the name resolves to."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = address or parts.hostname
    if parts.scheme == "https":
        connection = _PinnedHTTPSConnection(parts.hostname, port, target, timeout)
    else:
        connection = http.client.HTTPConnection(target, port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers={
            "Host": parts.netloc, "Content-Type": "application/json; charset=utf-8",
            **headers})
        reply = connection.getresponse()
        reply.read(1024)
        status = reply.status
    except (http.client.HTTPException, OSError) as exc:
        raise SendFailed(f"unreachable: {exc}") from None
    finally:
        connection.close()
    if 300 <= status < 400:
        raise SendFailed(f"HTTP {status}: redirects are not followed", retryable=False)
    if status >= 400:
        raise SendFailed(f"HTTP {status} from the receiver",
                         retryable=status in RETRYABLE_STATUSES)


class HttpSmsSender:
    """A provider adapter: POST `{to, text}` with a bearer token, 2xx means accepted."""

    def __init__(self, settings: OutboundSettings):
        self.settings = settings

    def send(self, target: str, payload: dict, secret: str | None = None) -> None:
        body = json.dumps({"to": target, "text": f"{payload['title']}：{payload['body']}"},
                          ensure_ascii=False).encode()
        headers = {"Authorization": f"Bearer {self.settings.sms_token}"} \
            if self.settings.sms_token else {}
        post_json(self.settings.sms_url, body, headers, self.settings.timeout_s)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookSender:
    def __init__(self, settings: OutboundSettings):
        self.settings = settings

    def send(self, target: str, payload: dict, secret: str | None = None) -> None:
        # Checked again at send time, and connected to the very address checked: a name
        # may resolve elsewhere than when it was saved.
        problem, address = check(target, self.settings.webhook_denied_ports,
                                 self.settings.webhook_allow_private)
        if problem:
            raise SendFailed(f"refused URL: {problem}", retryable=False)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        post_json(target, body, {
            TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret or "", timestamp,
                                                                     body),
            "X-CRM-Delivery": str(payload["delivery_id"]), "X-CRM-Kind": payload["kind"]},
            self.settings.timeout_s, address)


@functools.cache
def configured_senders() -> dict[str, Sender]:
    """The channels this deployment has configured."""
    settings = outbound_settings()
    available: dict[str, Sender] = {"webhook": WebhookSender(settings)}
    if settings.smtp_host:
        available["email"] = SmtpSender(settings)
    if settings.sms_url:
        available["sms"] = HttpSmsSender(settings)
    return available
