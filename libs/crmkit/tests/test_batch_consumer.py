"""`batch_event_handler` with the real broker and database: a backlog is handled in batches
no larger than CRM_EVENT_BATCH_MAX, each event once although it was published twice (in
the same batch, and again after it was handled); a batch holding an event that fails is
rolled back whole and its events handled alone, so the bad one is retried and parked by
itself and every other one counts once."""
import json
import uuid

import pytest
from kombu import Connection
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, insert, select

from crmkit.bus import event_queues
from crmkit.database import Database
from crmkit.entrypoints import batch_event_handler
from crmkit.migrations import ensure_database
from crmkit.outbox import EventPublisher
from crmkit.settings import bus_settings, database_settings
from crmkit.tables import kit_metadata
from crmkit.testing import wait_until

batch_metadata = MetaData()
handled = Table("batch_handled", batch_metadata, Column("event_id", String(36)),
                Column("batch_size", Integer))
SOURCE = "probe_batch_producer"


class ProbeBatchConsumer:
    name = "probe_batch_consumer"
    db = Database(relay=False)

    @batch_event_handler(SOURCE, "thing_counted")
    def on_things(self, events):
        assert events, "never an empty batch"
        # Each event arrives with the text it was parsed from (reporting archives that).
        RAW_MATCHES.extend(getattr(e, "raw_json", None) is not None
                           and json.loads(e.raw_json) == e for e in events)
        self.db.session.execute(insert(handled), [
            {"event_id": e["event_id"], "batch_size": len(events)} for e in events])
        if any(e["data"].get("poison") for e in events):
            FAILED_BATCH_SIZES.append(len(events))  # outside the rolled-back transaction
            raise RuntimeError("a bad event in the batch")


FAILED_BATCH_SIZES: list[int] = []
RAW_MATCHES: list[bool] = []


@pytest.fixture
def consumer_db():
    ensure_database(ProbeBatchConsumer.name)
    engine = create_engine(database_settings(ProbeBatchConsumer.name).url)
    kit_metadata.create_all(engine)
    batch_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(handled.delete())
    RAW_MATCHES.clear()
    yield engine
    engine.dispose()


def _envelope(**data) -> dict:
    return {"event_id": str(uuid.uuid4()), "type": "thing_counted", "version": 1,
            "occurred_at": "2031-01-01T00:00:00+00:00", "actor": {}, "data": data}


def _rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(handled.c.event_id, handled.c.batch_size))]


def _queue_depth(name: str) -> int:
    with Connection(bus_settings().amqp_uri) as conn:
        try:
            return conn.channel().queue_declare(name, passive=True).message_count
        except Exception:  # noqa: BLE001 (not declared yet)
            return 0


def _backlog(events: list[dict]) -> None:
    """Declare the handler's queue and publish `events` onto it before any consumer runs."""
    settings = bus_settings()
    with Connection(settings.amqp_uri) as conn:
        channel = conn.channel()
        for queue in event_queues(ProbeBatchConsumer, settings.nameko_config()):
            queue(channel).declare()
    publisher = EventPublisher(settings.amqp_uri, SOURCE)
    try:
        for env in events:
            publisher.publish(env, None)
    finally:
        publisher.close()


def test_a_backlog_is_taken_in_batches_each_event_once(consumer_db, start_service,
                                                       monkeypatch):
    monkeypatch.setenv("CRM_EVENT_BATCH_MAX", "40")
    # One batch at a time, so that batches commit in queue order (the sentinel below).
    monkeypatch.setenv("CRM_EVENT_BATCHES_IN_FLIGHT", "1")
    events = [_envelope(n=n) for n in range(150)]
    # The first ten twice in a row, while queued (so mostly inside one batch).
    _backlog([e for e in events[:10] for _ in (1, 2)] + events[10:])
    start_service(ProbeBatchConsumer)
    assert wait_until(lambda: len(_rows(consumer_db)) >= 150, timeout=20)
    # Redelivered after they were handled, then a sentinel: the queue is in order and
    # taken one batch at a time, so once the sentinel is in, the repeats were seen.
    sentinel = _envelope(n=-1)
    _backlog(events[10:20] + [sentinel])
    assert wait_until(lambda: sentinel["event_id"] in {e for e, _ in _rows(consumer_db)},
                      timeout=20)
    rows = _rows(consumer_db)
    assert sorted(e for e, _ in rows) == sorted(e["event_id"] for e in [*events, sentinel])
    sizes = [size for _, size in rows]
    assert max(sizes) > 1 and max(sizes) <= 40
    assert len(RAW_MATCHES) >= 151 and all(RAW_MATCHES)


def test_a_failing_batch_is_handled_event_by_event(consumer_db, start_service):
    good = [_envelope(n=n) for n in range(30)]
    poison = _envelope(poison=True)
    _backlog(good[:15] + [poison] + good[15:])
    start_service(ProbeBatchConsumer)
    dlq = "evt-probe_batch_producer-thing_counted--probe_batch_consumer.on_things.dlq"
    assert wait_until(lambda: _queue_depth(dlq) == 1, timeout=20)
    with consumer_db.connect() as conn:
        counts = dict(conn.execute(select(handled.c.event_id, func.count())
                                   .group_by(handled.c.event_id)).all())
    # The poison's own rows were rolled back with every attempt; the others count once.
    assert counts == {e["event_id"]: 1 for e in good}
    # The poison shared a batch with good events at least once (the fallback was used),
    # and was tried alone until parked.
    assert max(FAILED_BATCH_SIZES) > 1 and FAILED_BATCH_SIZES[-1] == 1
    with Connection(bus_settings().amqp_uri) as conn:
        conn.channel().queue_purge(dlq)


def test_an_undecodable_message_in_a_backlog_is_parked_alone(consumer_db, start_service):
    good = [_envelope(n=n) for n in range(20)]
    _backlog(good[:10])
    with Connection(bus_settings().amqp_uri) as conn:  # between them, a body that is not JSON
        conn.Producer().publish("{broken", exchange=f"{SOURCE}.events",
                                routing_key="thing_counted", content_type="application/json",
                                content_encoding="utf-8")
    _backlog(good[10:])
    start_service(ProbeBatchConsumer)
    assert wait_until(lambda: len(_rows(consumer_db)) >= 20, timeout=20)
    assert sorted(e for e, _ in _rows(consumer_db)) == sorted(e["event_id"] for e in good)
    dlq = "evt-probe_batch_producer-thing_counted--probe_batch_consumer.on_things.dlq"
    with Connection(bus_settings().amqp_uri) as conn:
        parked = conn.default_channel.basic_get(dlq, no_ack=True)
        assert parked is not None and parked.body in ("{broken", b"{broken")
        conn.default_channel.queue_purge(dlq)


class _Channel:
    """Records the acks a queue consumer sends (the bookkeeping below needs no broker)."""

    connection = True

    def __init__(self):
        self.acks = []

    def basic_ack(self, tag, multiple=False):
        self.acks.append((tag, multiple))


class _Message:
    def __init__(self, channel, tag):
        self.channel, self.delivery_tag = channel, tag


def test_one_multiple_ack_covers_only_settled_deliveries(monkeypatch):
    from nameko.messaging import QueueConsumer

    from crmkit.entrypoints import _BatchQueueConsumer
    monkeypatch.setattr(QueueConsumer, "requeue_message", lambda self, message: None)
    consumer, channel = _BatchQueueConsumer(), _Channel()
    messages = {tag: _Message(channel, tag) for tag in range(1, 7)}

    class Provider:
        def handle_message(self, body, message):
            pass
    for message in messages.values():
        consumer.handle_message(Provider(), {}, message)
    consumer.ack_messages([messages[2], messages[3]])
    assert channel.acks == []  # 1 is still being handled
    consumer.ack_message(messages[1])
    assert channel.acks == [(3, True)]
    consumer.requeue_message(messages[5])
    consumer.ack_message(messages[4])
    assert channel.acks == [(3, True), (4, True)]  # never past 6, still unsettled
    consumer.ack_message(messages[6])
    assert channel.acks == [(3, True), (4, True), (6, True)]
