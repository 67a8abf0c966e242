"""The in-app inbox: notices are written once per user and event, listed newest first
with the unread count, and marked read by their owner only."""
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.database import UnitOfWork, utcnow
from crmkit.directory import UserDirectory
from crmkit.errors import NotFound
from crmkit.pagination import page
from notifications.models import Notification
from notifications.schemas import NotificationSchema
from notifications.templates import render

schema = NotificationSchema()


def deliver(unit: UnitOfWork, people: UserDirectory, event: dict, kind: str,
            user_ids, values: dict, related: tuple[str, int] | None = None) -> int:
    """Write `kind` to each recipient's inbox in their language; inactive, unknown and
    repeated recipients are skipped. Returns how many were written."""
    recipients = people.get_many([u for u in dict.fromkeys(user_ids) if u])
    written = 0
    for person in recipients.values():
        if not person.active:
            continue
        title, body = render(kind, person.locale, values)
        inserted = unit.session.execute(
            pg_insert(Notification).values(
                user_id=person.user_id, kind=kind, title=title, body=body,
                related_resource=related[0] if related else None,
                related_id=related[1] if related else None, data=values,
                event_id=event["event_id"])
            .on_conflict_do_nothing().returning(Notification.id)).first()
        written += inserted is not None
    return written


def list_inbox(unit: UnitOfWork, query: dict) -> dict:
    mine = Notification.user_id == unit.caller.user_id
    stmt = select(Notification).where(mine)
    if query.get("unread"):
        stmt = stmt.where(Notification.read_at.is_(None))
    if query["cursor"] is not None:
        stmt = stmt.where(Notification.id < query["cursor"])
    rows = unit.session.execute(stmt.order_by(Notification.id.desc())
                                .limit(query["limit"] + 1)).scalars().all()
    unread = unit.session.execute(select(func.count()).select_from(Notification).where(
        mine, Notification.read_at.is_(None))).scalar_one()
    return dict(page([schema.dump(r) for r in rows], query["limit"]), unread_count=unread)


def mark_read(unit: UnitOfWork, notification_id: int) -> dict:
    notice = unit.session.execute(select(Notification).where(
        Notification.id == notification_id, Notification.user_id == unit.caller.user_id)
        .with_for_update()).scalar_one_or_none()
    if notice is None:
        raise NotFound("No such notification")
    if notice.read_at is None:
        notice.read_at = utcnow()
    return schema.dump(notice)


def mark_all_read(unit: UnitOfWork) -> dict:
    count = unit.session.execute(update(Notification).where(
        Notification.user_id == unit.caller.user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())).rowcount
    return {"marked": count}
