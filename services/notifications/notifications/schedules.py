"""Reminders and scheduled pushes, stored in the database and fired by a timer. Due rows
are claimed with FOR UPDATE SKIP LOCKED and each run of a job is a row with a primary key,
so with any number of replicas every reminder and every monthly push fires once."""
import calendar
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crmkit.database import UnitOfWork, utcnow
from crmkit.directory import UserDirectory
from crmkit.errors import Conflict, ValidationFailed
from crmkit.pagination import page, paginate
from notifications.inbox import deliver, deliver_many
from notifications.models import InspectionCopy, Reminder, ScheduledRun
from notifications.schemas import ReminderSchema
from notifications.settings import NotificationSettings

schema = ReminderSchema()
BATCH = 200
# A reminder may be set a moment in the past (clock skew of the phone), not more.
PAST_GRACE = timedelta(minutes=1)


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def next_fire(moment: datetime, repeat: str) -> datetime | None:
    """The occurrence after `moment`; None when the reminder does not repeat."""
    if repeat == "daily":
        return moment + timedelta(days=1)
    if repeat == "weekly":
        return moment + timedelta(weeks=1)
    if repeat == "monthly":
        return _add_months(moment, 1)
    if repeat == "yearly":
        return _add_months(moment, 12)
    return None


# --- reminders --------------------------------------------------------------------------
def create_reminder(unit: UnitOfWork, data: dict) -> dict:
    if data["due_at"] < utcnow() - PAST_GRACE:
        raise ValidationFailed("The reminder is in the past", {"due_at": ["in the past"]})
    related = data.get("related") or {}
    reminder = Reminder(user_id=unit.caller.user_id, subject=data["subject"],
                        kind=data["kind"], repeat=data["repeat"], due_at=data["due_at"],
                        next_fire_at=data["due_at"], related_resource=related.get("resource"),
                        related_id=related.get("id"))
    unit.session.add(reminder)
    unit.session.flush()
    unit.session.refresh(reminder)
    return schema.dump(reminder)


def list_reminders(unit: UnitOfWork, query: dict) -> dict:
    stmt = select(Reminder).where(Reminder.user_id == unit.caller.user_id)
    if "status" in query:
        stmt = stmt.where(Reminder.status == query["status"])
    rows = unit.session.execute(paginate(stmt, Reminder.id, query["limit"],
                                         query["cursor"])).scalars().all()
    return page([schema.dump(r) for r in rows], query["limit"])


def finish_reminder(unit: UnitOfWork, reminder_id: int) -> dict:
    """Done: a repeating reminder stops here."""
    reminder = unit.one_or_missing(select(Reminder).where(
        Reminder.id == reminder_id, Reminder.user_id == unit.caller.user_id),
        "reminder", lock_of=Reminder)
    if reminder.status == "done":
        raise Conflict("The reminder is already done", code="illegal_transition")
    reminder.status, reminder.next_fire_at = "done", None
    return schema.dump(reminder)


def fire_due_reminders(unit: UnitOfWork, people: UserDirectory, now: datetime) -> int:
    due = unit.session.execute(
        select(Reminder).where(Reminder.status == "active", Reminder.next_fire_at <= now)
        .order_by(Reminder.next_fire_at).limit(BATCH)
        .with_for_update(skip_locked=True)).scalars().all()
    for reminder in due:
        occurrence = reminder.next_fire_at
        # The occurrence is the event: redelivering it never writes a second notice.
        event = {"event_id": f"rem-{reminder.id}-{reminder.fired_count}"}
        deliver(unit, people, event, "reminder", [reminder.user_id],
                {"subject": reminder.subject, "due_at": occurrence.isoformat(),
                 "kind": reminder.kind},
                (reminder.related_resource, reminder.related_id)
                if reminder.related_resource else ("reminder", reminder.id))
        reminder.fired_count += 1
        following = next_fire(occurrence, reminder.repeat)
        # A repeat that fell behind (service down) skips to the next future occurrence.
        while following is not None and following <= now:
            following = next_fire(following, reminder.repeat)
        reminder.next_fire_at = following
        if following is None:
            reminder.status = "done"
    return len(due)


# --- the monthly inspection push --------------------------------------------------------
def apply_inspection(unit: UnitOfWork, event: dict) -> None:
    data = event["data"]
    values = {"inspection_id": data["inspection_id"], "owner_id": data["owner_id"],
              "partner_name": data.get("partner_name") or "", "month": data["month"],
              "status": data["status"]}
    stmt = pg_insert(InspectionCopy).values(**values)
    unit.session.execute(stmt.on_conflict_do_update(
        index_elements=[InspectionCopy.inspection_id],
        set_={k: stmt.excluded[k] for k in values if k != "inspection_id"}))


def push_open_inspections(unit: UnitOfWork, people: UserDirectory,
                          settings: NotificationSettings, now: datetime) -> int:
    """On the push day (or later in the month, if the service was down that day), once per
    month: every owner of a form of the month still in draft is reminded to fill it."""
    local = now.astimezone(ZoneInfo(settings.time_zone))
    if local.day < settings.push_day:
        return 0
    month = f"{local.year:04d}-{local.month:02d}"
    claimed = unit.session.execute(
        pg_insert(ScheduledRun).values(job="inspection_push", period=month)
        .on_conflict_do_nothing().returning(ScheduledRun.job)).first()
    if claimed is None:
        return 0
    forms = unit.session.execute(select(InspectionCopy).where(
        InspectionCopy.month == month, InspectionCopy.status == "draft")).scalars().all()
    written = deliver_many(unit, people, "inspection_push", [
        (form.owner_id, f"push-{month}-{form.inspection_id}",
         {"partner_name": form.partner_name, "month": form.month},
         ("inspection", form.inspection_id)) for form in forms])
    unit.session.execute(ScheduledRun.__table__.update().where(
        ScheduledRun.job == "inspection_push", ScheduledRun.period == month)
        .values(notices=written))
    return written
