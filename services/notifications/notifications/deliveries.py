"""The delivery log: notices written to inboxes also go out by e-mail and SMS (as each
recipient's preferences say) and to webhook subscribers of their kind. A timer sends what
is due; failures are retried with exponential backoff and end as `failed` after the last
attempt, never deleted. Sending is at least once: a crash between sending and the commit
sends again, and receivers drop repeats by the `X-CRM-Delivery` id."""
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.database import UnitOfWork, utcnow
from crmkit.errors import Forbidden
from crmkit.pagination import page
from notifications.models import Delivery, Preference, WebhookSubscription
from notifications.outbound import Sender, SendFailed
from notifications.schemas import DeliverySchema
from notifications.settings import OutboundSettings

schema = DeliverySchema()
BATCH = 50
log = logging.getLogger(__name__)


def backoff(attempts: int, settings: OutboundSettings) -> timedelta:
    """The wait before attempt `attempts + 1`."""
    return timedelta(seconds=min(settings.retry_base_s * 2 ** max(attempts - 1, 0),
                                 settings.retry_max_s))


@dataclass(frozen=True)
class Outbound:
    """Who of a batch's recipients, and which subscribers of its kind, take copies."""

    preferences: dict[int, Preference]
    subscribers: list[WebhookSubscription]
    channels: frozenset[str]

    @property
    def wanted(self) -> bool:
        return bool(self.preferences or self.subscribers)


def plan(unit: UnitOfWork, kind: str, user_ids: set[int],
         channels: frozenset[str]) -> Outbound:
    """Looked up before the notices are written, so a batch nobody wants outside the inbox
    (the usual case) costs one small query and no more."""
    preferences = _preferences(unit, user_ids) if channels & {"email", "sms"} else {}
    subscribers = []
    if "webhook" in channels:
        active = unit.memo("webhook_subscriptions", lambda: unit.session.execute(
            select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
        ).scalars().all())
        subscribers = [sub for sub in active if kind in sub.kinds]
    return Outbound(preferences, subscribers, channels)


def enqueue(unit: UnitOfWork, written: list[dict], outbound: Outbound) -> int:
    """Deliveries for notices just written (`{id, user_id, kind, title, body, event_id,
    related_resource, related_id, data}`)."""
    rows = []
    channels = outbound.channels
    for notice in written:
        pref = outbound.preferences.get(notice["user_id"])
        if pref is None or notice["kind"] in (pref.muted_kinds or ()):
            continue
        text = {"title": notice["title"], "body": notice["body"]}
        if "email" in channels and pref.email_enabled and pref.email:
            rows.append(_row("email", notice, pref.email, text))
        if "sms" in channels and pref.sms_enabled and pref.phone:
            rows.append(_row("sms", notice, pref.phone, text))
    seen = set()
    for notice in written:
        for sub in outbound.subscribers:
            key = (sub.id, notice["event_id"])
            if key not in seen:
                seen.add(key)
                rows.append(dict(_row("webhook", notice, sub.url, _webhook_body(notice)),
                                 notification_id=None, subscription_id=sub.id))
    if not rows:
        return 0
    return len(unit.session.execute(pg_insert(Delivery).values(rows).on_conflict_do_nothing()
                                    .returning(Delivery.id)).all())


def _preferences(unit: UnitOfWork, user_ids: set[int]) -> dict[int, Preference]:
    if not user_ids:
        return {}
    # One array parameter: the monthly push asks about 20,000 users at once.
    found = unit.session.execute(select(Preference).where(
        Preference.user_id == any_(bindparam("user_ids", list(user_ids),
                                             type_=ARRAY(BigInteger))),
        Preference.email_enabled | Preference.sms_enabled)).scalars().all()
    return {p.user_id: p for p in found}


def _row(channel: str, notice: dict, target: str, payload: dict) -> dict:
    return {"channel": channel, "kind": notice["kind"], "notification_id": notice["id"],
            "subscription_id": None, "event_id": notice["event_id"], "target": target,
            "payload": payload}


def _webhook_body(notice: dict) -> dict:
    """What a partner system receives (the recipient user and the notice's values)."""
    related = ({"resource": notice["related_resource"], "id": notice["related_id"]}
               if notice["related_resource"] else None)
    return {"kind": notice["kind"], "event_id": notice["event_id"],
            "user_id": notice["user_id"], "title": notice["title"], "body": notice["body"],
            "related": related, "data": notice["data"]}


def send_due(unit: UnitOfWork, senders: dict[str, Sender], settings: OutboundSettings,
             now: datetime | None = None) -> int:
    """Send one batch of due deliveries; replicas take different rows (SKIP LOCKED)."""
    now = now or utcnow()
    due = unit.session.execute(
        select(Delivery).where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id).limit(BATCH)
        .with_for_update(skip_locked=True)).scalars().all()
    subscriptions = _subscriptions(unit, {d.subscription_id for d in due if d.subscription_id})
    for delivery in due:
        _attempt(delivery, senders, settings, subscriptions, now)
    return len(due)


def _subscriptions(unit: UnitOfWork, ids: set[int]) -> dict[int, WebhookSubscription]:
    """As they are now: a retry follows a changed URL or secret and stops when the
    subscription was switched off."""
    if not ids:
        return {}
    return {sub.id: sub for sub in unit.session.execute(
        select(WebhookSubscription).where(WebhookSubscription.id.in_(ids))).scalars()}


def _attempt(delivery: Delivery, senders: dict[str, Sender], settings: OutboundSettings,
             subscriptions: dict[int, WebhookSubscription], now: datetime) -> None:
    delivery.attempts += 1
    sender = senders.get(delivery.channel)
    try:
        if sender is None:
            raise SendFailed(f"the {delivery.channel} channel is not configured",
                             retryable=False)
        payload, secret = delivery.payload, None
        if delivery.channel == "webhook":
            subscription = subscriptions.get(delivery.subscription_id)
            if subscription is None or not subscription.active:
                raise SendFailed("the webhook subscription is switched off", retryable=False)
            delivery.target, secret = subscription.url, subscription.secret
            payload = dict(payload, delivery_id=delivery.id)
        sender.send(delivery.target, payload, secret)
    except SendFailed as failure:
        delivery.last_error = failure.reason
        if failure.retryable and delivery.attempts < settings.max_attempts:
            delivery.next_attempt_at = now + backoff(delivery.attempts, settings)
        else:
            delivery.status = "failed"
        return
    except Exception as exc:  # noqa: BLE001 (one bad delivery must not undo its batch)
        log.warning("delivery %s failed unexpectedly", delivery.id, exc_info=True)
        delivery.status, delivery.last_error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        return
    delivery.status, delivery.sent_at, delivery.last_error = "sent", now, None


def list_deliveries(unit: UnitOfWork, query: dict) -> dict:
    """The log, newest first: admins only (targets are people's addresses)."""
    if not unit.caller.is_admin:
        raise Forbidden("Only admins read the delivery log")
    stmt = select(Delivery)
    for key in ("status", "channel", "kind"):
        if key in query:
            stmt = stmt.where(getattr(Delivery, key) == query[key])
    if query["cursor"] is not None:
        stmt = stmt.where(Delivery.id < query["cursor"])
    rows = unit.session.execute(stmt.order_by(Delivery.id.desc())
                                .limit(query["limit"] + 1)).scalars().all()
    return page([schema.dump(r) for r in rows], query["limit"])

