"""Batched consumption and the report cache, with the real services and broker:
- inspection lines applied a batch at a time leave exactly the rows that applying the
  same events one by one leaves (random out-of-order sequences, owner changes, statuses);
- a backlog of line events published twice is counted once;
- a cached channel report changes with a new line, with a write by anyone else, and with
  a move of the owner in the directory (scope follows people)."""
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from crmkit.outbox import EventPublisher
from crmkit.settings import bus_settings
from crmkit.testing import ADMIN, wait_until
from reporting.models import ChannelLineTotal, InspectionForm

MONTH = "2031-06"
TYPES = ("燃气热水器", "电热水器", "净水器")


@pytest.fixture
def engine(migrated):
    from crmkit.database import make_engine
    from crmkit.settings import database_settings
    migrated("reporting")
    engine = make_engine(database_settings("reporting"))
    yield engine
    engine.dispose()


def _event(form_id: int, owner_id: int, at: datetime, status="draft", line=None,
           month=MONTH, partner_name="渠道商") -> dict:
    data = {"inspection_id": form_id, "partner_id": form_id % 1000, "partner_name": partner_name,
            "month": month, "owner_id": owner_id, "status": status}
    kind = "inspection_submitted" if line is None else "inspection_line_added"
    if line is not None:
        data["line"] = line
    return {"event_id": str(uuid.uuid4()), "type": kind, "version": 1,
            "occurred_at": at.isoformat(), "actor": {}, "data": data}


def _line(rnd: random.Random) -> dict:
    quantity = rnd.randint(1, 9)
    return {"product_type": rnd.choice(TYPES), "quantity": quantity,
            "amount": f"{Decimal(rnd.randint(100, 99999)) / 100:.2f}"}


def _random_sequence(rnd: random.Random, forms: list[int]) -> list[dict]:
    """Line events mostly, some status events; times out of order and sometimes equal,
    owners changing, partner names changing."""
    start = datetime(2031, 6, 1, tzinfo=UTC)
    events = []
    for _ in range(rnd.randint(1, 60)):
        form = rnd.choice(forms)
        at = start + timedelta(seconds=rnd.choice((0, 1, 2, 3, 5, 8, 13)))
        owner = rnd.choice((101, 102, 103))
        if rnd.random() < 0.85:
            events.append(_event(form, owner, at, status=rnd.choice(("draft", "submitted")),
                                 line=_line(rnd), partner_name=rnd.choice(("甲", "乙"))))
        else:
            events.append(_event(form, owner, at, status=rnd.choice(
                ("draft", "submitted", "reviewed", "odd")), partner_name="丙"))
    return events


def _snapshot(session: Session, forms: list[int]) -> tuple:
    f, t = InspectionForm, ChannelLineTotal
    return (
        session.execute(select(f.inspection_id, f.partner_id, f.partner_name, f.month,
                               f.owner_id, f.status, f.owner_as_of)
                        .where(f.inspection_id.in_(forms)).order_by(f.inspection_id)).all(),
        session.execute(select(t.inspection_id, t.product_type, t.month, t.partner_id,
                               t.owner_id, t.line_count, t.quantity, t.amount)
                        .where(t.inspection_id.in_(forms))
                        .order_by(t.inspection_id, t.product_type)).all())


def test_lines_in_batches_leave_the_rows_of_one_by_one(engine):
    from reporting.projections import APPLIERS, BATCH_APPLIERS
    rnd = random.Random(8)
    for _ in range(60):
        base = rnd.randint(10**12, 2 * 10**12)
        forms = [base, base + 1, base + 2]
        events = _random_sequence(rnd, forms)
        with Session(engine) as session:
            for event in events:
                APPLIERS[("channels", event["type"])](session, event)
            one_by_one = _snapshot(session, forms)
            session.rollback()
            # The same order, consecutive line events applied as batches of random sizes.
            i = 0
            while i < len(events):
                if events[i]["type"] != "inspection_line_added":
                    APPLIERS[("channels", events[i]["type"])](session, events[i])
                    i += 1
                    continue
                j = i
                while j < len(events) and events[j]["type"] == "inspection_line_added" \
                        and j - i < rnd.randint(1, 40):
                    j += 1
                BATCH_APPLIERS[("channels", "inspection_line_added")](session, events[i:j])
                i = j
            batched = _snapshot(session, forms)
            session.rollback()
        assert batched == one_by_one, events


def test_a_backlog_published_twice_counts_once(running, engine):
    rnd = random.Random(9)
    base = rnd.randint(3 * 10**12, 4 * 10**12)
    at = datetime.now(UTC)
    events = [_event(base + n % 7, 101, at, line=_line(rnd)) for n in range(300)]
    publisher = EventPublisher(bus_settings().amqp_uri, "channels")
    try:
        # The repeats go first: once every original is archived, they have been seen.
        for event in events[::3] + events:
            publisher.publish(event, None)
    finally:
        publisher.close()
    ids = [e["event_id"] for e in events]

    def archived():
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM event_archive "
                                     "WHERE event_id = ANY(CAST(:ids AS uuid[]))"),
                                {"ids": ids}).scalar()
    assert wait_until(lambda: archived() == len(events), timeout=20)
    with engine.connect() as conn:
        lines, quantity, amount = conn.execute(text(
            "SELECT sum(line_count), sum(quantity), sum(amount) FROM channel_line_totals "
            "WHERE inspection_id BETWEEN :low AND :high"), {"low": base, "high": base + 7}).one()
    assert (lines, quantity, amount) == (
        300, sum(e["data"]["line"]["quantity"] for e in events),
        sum(Decimal(e["data"]["line"]["amount"]) for e in events))


def _amount(report: dict, key) -> str | None:
    return next((r["amount"] for r in report["rows"] if r["key"] == key), None)


def test_a_cached_report_follows_new_lines_other_writers_and_moved_people(
        system, region, channel_form, engine):
    team, other = region(), region()
    partner, store, form = channel_form(team, MONTH, share="20.00")
    owner = system(team["owner"], "channels")
    reports = system(team["manager"], "reporting")

    def report(**query):
        return reports.channel_report(query={"month": MONTH, **query})

    def add_line(amount):
        owner.add_inspection_line(form["id"], data={
            "customer_name": "张三", "store_id": store["id"], "product_type": "燃气热水器",
            "quantity": 1, "amount": amount})

    add_line("100.00")
    assert wait_until(lambda: _amount(report(), partner["id"]) == "100.00")
    cached = report()
    with engine.connect() as conn:
        kept = conn.execute(text(
            "SELECT stamp, built_at FROM report_cache WHERE month = :month "
            "AND group_by = 'partner' AND scope = :scope"),
            {"month": MONTH, "scope": f"subtree:{team['region']['path']}:"
                                      f"{team['region']['id']}"}).one()
    assert report() == cached  # answered from the cache...
    with engine.connect() as conn:
        assert conn.execute(text("SELECT stamp, built_at FROM report_cache WHERE month = "
                                 ":month AND group_by = 'partner' AND stamp = :stamp"),
                            {"month": MONTH, "stamp": kept.stamp}).one() == kept

    add_line("50.00")  # ...until a line of that month arrives
    assert wait_until(lambda: _amount(report(), partner["id"]) == "150.00")

    # A writer that knows nothing of the cache (a manual fix): stale at once.
    with engine.begin() as conn:
        conn.execute(text("UPDATE channel_line_totals SET amount = amount + 1 "
                          "WHERE inspection_id = :id"), {"id": form["id"]})
    assert _amount(report(), partner["id"]) == "151.00"
    by_owner = report(group_by="owner")
    assert [r["key"] for r in by_owner["rows"]] == [team["owner"].user_id]

    # The owner moves to the other region: the figures follow them out of this scope.
    system(ADMIN, "accounts").update_user(team["owner"].user_id,
                                          data={"org_unit_id": other["region"]["id"],
                                                "manager_id": other["manager"].user_id})
    assert wait_until(lambda: report()["rows"] == [])
    assert report(group_by="owner")["rows"] == []
    elsewhere = system(other["manager"], "reporting").channel_report(
        query={"month": MONTH})
    assert _amount(elsewhere, partner["id"]) == "151.00"
