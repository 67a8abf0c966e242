"""Reports sent up one level: a month's report goes to the sender's direct manager only
(from the directory; never skipping a level), who is told (`report_submitted`) and may
comment back (`report_commented`). Sender and recipient see the submission; nobody
else does."""
from sqlalchemy import or_, select

from crmkit.database import UnitOfWork
from crmkit.directory import UserDirectory
from crmkit.errors import Conflict, Forbidden
from crmkit.pagination import page, paginate
from reporting import reports
from reporting.models import ReportComment, ReportSubmission
from reporting.schemas import CommentSchema, SubmissionSchema

submission_schema = SubmissionSchema()
comment_schema = CommentSchema()


def _names(people: UserDirectory, user_ids) -> dict[int, str]:
    return {u: p.display_name for u, p in people.get_many(set(user_ids)).items()}


def _dump(submissions: list[ReportSubmission], unit: UnitOfWork,
          people: UserDirectory) -> list[dict]:
    comments: dict[int, list] = {s.id: [] for s in submissions}
    if submissions:
        for comment in unit.session.execute(
                select(ReportComment).where(ReportComment.submission_id.in_(list(comments)))
                .order_by(ReportComment.id)).scalars():
            comments[comment.submission_id].append(comment)
    names = _names(people, {s.sender_id for s in submissions}
                   | {s.recipient_id for s in submissions}
                   | {c.author_id for cs in comments.values() for c in cs})
    dumped = []
    for s in submissions:
        record = {c: getattr(s, c) for c in ReportSubmission.__table__.columns.keys()}
        dumped.append(submission_schema.dump(dict(
            record, sender_name=names.get(s.sender_id),
            recipient_name=names.get(s.recipient_id),
            comments=[dict({c: getattr(x, c) for c in ReportComment.__table__.columns.keys()},
                           author_name=names.get(x.author_id)) for x in comments[s.id]])))
    return dumped


def submit(unit: UnitOfWork, people: UserDirectory, data: dict) -> dict:
    caller = unit.caller
    me = people.get(caller.user_id)
    if me is None or me.manager_id is None:
        raise Conflict("You have no manager to send reports to", code="no_manager")
    if data.get("recipient_id") not in (None, me.manager_id):
        raise Forbidden("Reports go one level up, to your direct manager only",
                        {"recipient_id": ["not your direct manager"]}, code="skip_level")
    manager = people.get(me.manager_id)
    if manager is None or not manager.active:
        raise Conflict("Your manager's account is not active", code="manager_inactive")
    summary = reports.build(unit, data["report"], {"month": data["month"]})["totals"]
    submission = ReportSubmission(report=data["report"], month=data["month"],
                                  note=data.get("note"), sender_id=me.user_id,
                                  recipient_id=manager.user_id, summary=summary)
    unit.session.add(submission)
    unit.session.flush()
    unit.session.refresh(submission)
    dumped = _dump([submission], unit, people)[0]
    unit.audit("submit", "report_submission", submission.id, None, dumped)
    unit.emit("report_submitted", {
        "submission_id": submission.id, "report": submission.report, "month": submission.month,
        "note": submission.note, "sender_id": me.user_id, "sender_name": me.display_name,
        "recipient_id": manager.user_id, "summary": summary,
        "submitted_at": submission.created_at.isoformat()})
    return dumped


def _visible(unit: UnitOfWork, submission_id: int) -> ReportSubmission:
    me = unit.caller.user_id
    return unit.one_or_missing(select(ReportSubmission).where(
        ReportSubmission.id == submission_id,
        or_(ReportSubmission.sender_id == me, ReportSubmission.recipient_id == me)),
        "report submission")


def get_submission(unit: UnitOfWork, people: UserDirectory, submission_id: int) -> dict:
    return _dump([_visible(unit, submission_id)], unit, people)[0]


def list_submissions(unit: UnitOfWork, people: UserDirectory, query: dict) -> dict:
    me = unit.caller.user_id
    s = ReportSubmission
    mine = {"sent": s.sender_id == me, "received": s.recipient_id == me}
    stmt = select(s).where(mine[query["box"]] if "box" in query
                           else or_(*mine.values()))
    for name in ("report", "month"):
        if name in query:
            stmt = stmt.where(getattr(s, name) == query[name])
    rows = unit.session.execute(paginate(stmt, s.id, query["limit"],
                                         query["cursor"])).scalars().all()
    return page(_dump(rows, unit, people), query["limit"])


def comment(unit: UnitOfWork, people: UserDirectory, submission_id: int, data: dict) -> dict:
    """The manager answers down (and the sender may reply): the other party is told."""
    submission = _visible(unit, submission_id)
    me = unit.caller.user_id
    note = ReportComment(submission_id=submission.id, author_id=me, text=data["text"])
    unit.session.add(note)
    unit.session.flush()
    unit.session.refresh(note)
    author = people.get(me)
    dumped = comment_schema.dump(dict(
        {c: getattr(note, c) for c in ReportComment.__table__.columns.keys()},
        author_name=author.display_name if author else None))
    unit.audit("comment", "report_submission", submission.id, None, dumped)
    other = submission.sender_id if me == submission.recipient_id else submission.recipient_id
    unit.emit("report_commented", {
        "submission_id": submission.id, "comment_id": note.id, "report": submission.report,
        "month": submission.month, "author_id": me, "author_name": dumped["author_name"],
        "recipient_id": other, "sender_id": submission.sender_id, "text": note.text,
        "commented_at": note.created_at.isoformat()})
    return dumped
