"""Webhook subscriptions of partner systems, managed by admins: which notice kinds go to
which URL, signed with the subscription's secret."""
import secrets

from sqlalchemy import select

from crmkit.database import UnitOfWork
from crmkit.errors import Forbidden, NotFound, ValidationFailed
from crmkit.pagination import page, paginate
from notifications.models import WebhookSubscription
from notifications.schemas import WebhookCreatedSchema, WebhookSchema
from notifications.settings import outbound_settings
from notifications.webhook_urls import url_problem

schema = WebhookSchema()
created_schema = WebhookCreatedSchema()


def _require_admin(unit: UnitOfWork) -> None:
    if not unit.caller.is_admin:
        raise Forbidden("Only admins manage webhook subscriptions")


def _check_url(url: str) -> None:
    settings = outbound_settings()
    problem = url_problem(url, settings.webhook_denied_ports, settings.webhook_allow_private)
    if problem:
        raise ValidationFailed(f"The webhook URL {problem}", {"url": [problem]})


def create_webhook(unit: UnitOfWork, data: dict) -> dict:
    _require_admin(unit)
    _check_url(data["url"])
    subscription = WebhookSubscription(
        name=data["name"], url=data["url"], kinds=sorted(set(data["kinds"])),
        secret=data["secret"] or secrets.token_urlsafe(32), active=data["active"],
        created_by=unit.caller.user_id)
    unit.session.add(subscription)
    unit.session.flush()
    unit.session.refresh(subscription)
    dumped = schema.dump(subscription)
    unit.audit("create", "webhook", subscription.id, None, dumped)
    return created_schema.dump(subscription)


def list_webhooks(unit: UnitOfWork, query: dict) -> dict:
    _require_admin(unit)
    rows = unit.session.execute(paginate(select(WebhookSubscription), WebhookSubscription.id,
                                         query["limit"], query["cursor"])).scalars().all()
    return page([schema.dump(r) for r in rows], query["limit"])


def update_webhook(unit: UnitOfWork, webhook_id: int, data: dict) -> dict:
    _require_admin(unit)
    subscription = unit.session.get(WebhookSubscription, webhook_id, with_for_update=True)
    if subscription is None:
        raise NotFound("No such webhook subscription")
    if "url" in data:
        _check_url(data["url"])
    before = schema.dump(subscription)
    for name, value in data.items():
        setattr(subscription, name, sorted(set(value)) if name == "kinds" else value)
    unit.session.flush()
    after = schema.dump(subscription)
    unit.audit("update", "webhook", subscription.id, before, after,
               note="secret changed" if "secret" in data else None)
    return after
