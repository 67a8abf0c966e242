"""The in-app inbox: notices are written once per user and event, listed newest first
with the unread count, and marked read by their owner only."""
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.database import UnitOfWork, utcnow
from crmkit.directory import UserDirectory
from crmkit.pagination import page
from notifications import deliveries
from notifications.models import Notification
from notifications.outbound import configured_senders
from notifications.schemas import NotificationSchema
from notifications.template_overrides import overrides
from notifications.templates import render

schema = NotificationSchema()


CHUNK = 1000
# What the outbound channels need of a notice just written.
OUTBOUND_COLUMNS = (Notification.id, Notification.user_id, Notification.kind,
                    Notification.title, Notification.body, Notification.event_id,
                    Notification.related_resource, Notification.related_id, Notification.data)


def deliver(unit: UnitOfWork, people: UserDirectory, event: dict, kind: str,
            user_ids, values: dict, related: tuple[str, int] | None = None) -> int:
    """Write `kind` to each recipient's inbox for one event (see `deliver_many`)."""
    return deliver_many(unit, people, kind, [(user_id, event["event_id"], values, related)
                                             for user_id in dict.fromkeys(user_ids)])


def deliver_many(unit: UnitOfWork, people: UserDirectory, kind: str, notices) -> int:
    """Write notices `(user_id, event_id, values, related)` in each recipient's language:
    one directory lookup and one INSERT per thousand, whatever the count (the monthly push
    writes tens of thousands). Inactive and unknown recipients are skipped; a notice
    already written for that user, event and kind is not written again. Returns how many
    were written."""
    recipients = people.get_many({n[0] for n in notices if n[0]})
    wording = overrides(unit, kind)
    rows = []
    for user_id, event_id, values, related in notices:
        person = recipients.get(user_id)
        if person is None or not person.active:
            continue
        title, body = render(kind, person.locale, values, wording)
        # A title carries user text (a reminder's subject): keep it within its column.
        rows.append({"user_id": user_id, "kind": kind, "title": title[:200], "body": body,
                     "related_resource": related[0] if related else None,
                     "related_id": related[1] if related else None, "data": values,
                     "event_id": event_id})
    written = 0
    outbound = deliveries.plan(unit, kind, {row["user_id"] for row in rows},
                               frozenset(configured_senders()))
    returning = OUTBOUND_COLUMNS if outbound.wanted else (Notification.id,)
    # Core executemany: the statement compiles once and SQLAlchemy's "insertmanyvalues"
    # sends a thousand rows per round trip; a multi-VALUES insert would be compiled anew
    # for every chunk (160,000 bind parameters for the monthly push).
    insert_new = pg_insert(Notification.__table__).on_conflict_do_nothing() \
        .returning(*(column.expression for column in returning))
    for start in range(0, len(rows), CHUNK):
        if not rows[start:start + CHUNK]:
            break
        new = unit.session.connection().execute(
            insert_new, rows[start:start + CHUNK]).mappings().all()
        written += len(new)
        if outbound.wanted:
            deliveries.enqueue(unit, [dict(row) for row in new], outbound)
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
    notice = unit.one_or_missing(select(Notification).where(
        Notification.id == notification_id, Notification.user_id == unit.caller.user_id),
        "notification", lock_of=Notification)
    if notice.read_at is None:
        notice.read_at = utcnow()
    return schema.dump(notice)


def mark_all_read(unit: UnitOfWork) -> dict:
    count = unit.session.execute(update(Notification).where(
        Notification.user_id == unit.caller.user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())).rowcount
    return {"marked": count}
