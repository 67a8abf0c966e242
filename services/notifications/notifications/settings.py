"""Settings of the notifications service."""
from dataclasses import dataclass

from crmkit.settings import env


@dataclass(frozen=True)
class OutboundSettings:
    # E-mail over SMTP; no host: e-mail is off.
    smtp_host: str | None
    smtp_port: int
    smtp_user: str | None
    smtp_password: str | None
    smtp_starttls: bool
    mail_from: str
    # SMS through an HTTP provider: POST {to, text} with a bearer token; no URL: SMS is off.
    sms_url: str | None
    sms_token: str | None
    timeout_s: float
    max_attempts: int
    # Retry n waits retry_base_s * 2^(n-1), at most retry_max_s.
    retry_base_s: float
    retry_max_s: float
    # Webhooks may not point at these ports of this machine or a private network (the
    # system's own admin ports: PostgreSQL, RabbitMQ and its console, S3, the gateway...).
    webhook_denied_ports: frozenset[int]
    # Private and loopback addresses are refused for webhooks unless allowed (local runs).
    webhook_allow_private: bool


@dataclass(frozen=True)
class NotificationSettings:
    tick_s: float
    push_day: int
    time_zone: str
    outbound: OutboundSettings | None = None


def _ports(text: str) -> frozenset[int]:
    return frozenset(int(p) for p in text.split(",") if p.strip())


def outbound_settings() -> OutboundSettings:
    return OutboundSettings(
        smtp_host=env.str("CRM_SMTP_HOST", None) or None,
        smtp_port=env.int("CRM_SMTP_PORT", 25),
        smtp_user=env.str("CRM_SMTP_USER", None) or None,
        smtp_password=env.str("CRM_SMTP_PASSWORD", None) or None,
        smtp_starttls=env.bool("CRM_SMTP_STARTTLS", False),
        mail_from=env.str("CRM_MAIL_FROM", "crm@localhost"),
        sms_url=env.str("CRM_SMS_URL", None) or None,
        sms_token=env.str("CRM_SMS_TOKEN", None) or None,
        timeout_s=env.float("CRM_DELIVERY_TIMEOUT_S", 5.0),
        max_attempts=env.int("CRM_DELIVERY_MAX_ATTEMPTS", 8),
        retry_base_s=env.float("CRM_DELIVERY_RETRY_BASE_S", 30.0),
        retry_max_s=env.float("CRM_DELIVERY_RETRY_MAX_S", 3600.0),
        webhook_denied_ports=_ports(env.str(
            "CRM_WEBHOOK_DENIED_PORTS", "22,5432,5672,15672,25672,4369,9000,9001,8000,50051")),
        webhook_allow_private=env.bool("CRM_WEBHOOK_ALLOW_PRIVATE", False),
    )


def load() -> NotificationSettings:
    push_day = env.int("CRM_INSPECTION_PUSH_DAY", 25)
    if not 1 <= push_day <= 28:
        raise ValueError("CRM_INSPECTION_PUSH_DAY must be 1..28 (every month has it)")
    return NotificationSettings(
        tick_s=env.float("CRM_SCHEDULER_TICK_S", 5.0),
        push_day=push_day,
        time_zone=env.str("CRM_DEFAULT_TIME_ZONE", "Asia/Shanghai"),
        outbound=outbound_settings(),
    )
