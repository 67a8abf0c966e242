"""The outbox and idempotent-consumer guarantees with the real broker and database: an
event whose relay stopped between commit and publish arrives once the relay is back,
exactly once in effect even when the relay published it twice; a consumer that keeps
failing retries a bounded number of times, then parks the event in a dead-letter queue."""
import time
import uuid

import pytest
from kombu import Connection
from sqlalchemy import Column, MetaData, String, Table, create_engine, func, insert, select

from crmkit.database import Database, UnitOfWork
from crmkit.entrypoints import event_handler, rpc
from crmkit.migrations import ensure_database
from crmkit.outbox import EventPublisher, relay_once
from crmkit.settings import bus_settings, database_settings
from crmkit.tables import kit_metadata, outbox

probe_metadata = MetaData()
received = Table("received", probe_metadata, Column("event_id", String(36)),
                 Column("note", String(100)))


class ProbeProducer:
    """A producer whose relay is under the test's control (relay=False)."""

    name = "probe_producer"
    db = Database(relay=False)

    @rpc
    def noop(self):
        return None


class ProbeConsumer:
    name = "probe_consumer"
    db = Database(relay=False)

    @event_handler("probe_producer", "thing_happened")
    def on_thing(self, event):
        self.db.session.execute(insert(received).values(event_id=event["event_id"],
                                                        note=event["data"]["note"]))

    @event_handler("probe_producer", "poison_sent")
    def on_poison(self, event):
        raise RuntimeError("this consumer always fails")


def _fresh_engine(service: str, metadata_list):
    ensure_database(service)
    engine = create_engine(database_settings(service).url)
    for metadata in metadata_list:
        metadata.create_all(engine)
    return engine


@pytest.fixture
def engines():
    producer = _fresh_engine("probe_producer", [kit_metadata])
    consumer = _fresh_engine("probe_consumer", [kit_metadata, probe_metadata])
    yield producer, consumer
    producer.dispose()
    consumer.dispose()


def _commit_event(engine, event_type, note) -> str:
    event_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(insert(outbox).values(
            event_id=event_id, type=event_type, version=1,
            occurred_at=func.now(), actor={}, data={"note": note}))
    return event_id


def _wait(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


class CrashAfterPublish(EventPublisher):
    """Publishes, then dies before the relay can mark the row sent."""

    def publish(self, env, request_id):
        super().publish(env, request_id)
        raise ConnectionError("relay crashed after publishing")


def test_event_survives_a_stopped_relay_and_is_handled_exactly_once(engines, start_service):
    producer_db, consumer_db = engines
    start_service(ProbeConsumer)
    event_id = _commit_event(producer_db, "thing_happened", "hello 你好")

    def handled():
        with consumer_db.connect() as conn:
            return conn.execute(select(func.count()).select_from(received)
                                .where(received.c.event_id == event_id)).scalar()

    time.sleep(0.5)
    assert handled() == 0  # committed, relay not running: nothing published yet

    amqp_uri = bus_settings().amqp_uri
    with pytest.raises(ConnectionError):
        relay_once(producer_db, CrashAfterPublish(amqp_uri, "probe_producer"))
    with producer_db.connect() as conn:
        assert conn.execute(select(outbox.c.published_at)
                            .where(outbox.c.event_id == event_id)).scalar() is None

    assert relay_once(producer_db, EventPublisher(amqp_uri, "probe_producer")) == 1
    assert _wait(lambda: handled() == 1)
    time.sleep(1.0)  # the duplicate delivery has had time to arrive and be skipped
    assert handled() == 1
    with producer_db.connect() as conn:
        assert conn.execute(select(outbox.c.published_at)
                            .where(outbox.c.event_id == event_id)).scalar() is not None
    assert relay_once(producer_db, EventPublisher(amqp_uri, "probe_producer")) == 0


def test_failing_consumer_retries_then_parks_the_event(engines, start_service):
    producer_db, _ = engines
    start_service(ProbeConsumer)
    event_id = _commit_event(producer_db, "poison_sent", "poison")
    relay_once(producer_db, EventPublisher(bus_settings().amqp_uri, "probe_producer"))
    dlq = "evt-probe_producer-poison_sent--probe_consumer.on_poison.dlq"

    with Connection(bus_settings().amqp_uri) as conn:
        channel = conn.channel()

        def parked():
            try:
                return channel.queue_declare(dlq, passive=True).message_count >= 1
            except Exception:  # noqa: BLE001 (not declared yet)
                return False
        assert _wait(parked, timeout=15)
        message = channel.basic_get(dlq, no_ack=True)
    import json
    body = json.loads(message.body)
    assert body["event_id"] == event_id
    assert message.headers["x-crm-attempt"] == 4  # three attempts, then parked


def test_unit_of_work_commits_before_the_reply(engines):
    """A unit that fails to commit reports the failure instead of a success."""
    producer_db, _ = engines
    from sqlalchemy.orm import sessionmaker
    unit = UnitOfWork(sessionmaker(producer_db), {}, "probe_producer")
    unit.emit("thing_happened", {"note": "rolled back"})
    unit.rollback()
    unit.close()
    with producer_db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox).where(
            outbox.c.data["note"].astext == "rolled back")).scalar() == 0
