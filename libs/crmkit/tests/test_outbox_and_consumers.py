"""The outbox and idempotent-consumer guarantees with the real broker and database: an
event whose relay stopped between commit and publish arrives once the relay is back,
exactly once in effect even when the relay published it twice; a consumer that keeps
failing retries a bounded number of times, then parks the event in a dead-letter queue;
an RPC whose commit fails answers with the failure, not with success."""
import json
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from kombu import Connection
from sqlalchemy import (
    Column,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    func,
    insert,
    select,
)

from crmkit import errors
from crmkit.database import Database
from crmkit.entrypoints import event_handler, rpc
from crmkit.migrations import ensure_database
from crmkit.outbox import EventPublisher, relay_once
from crmkit.settings import bus_settings, database_settings
from crmkit.tables import kit_metadata, outbox
from crmkit.testing import wait_until

probe_metadata = MetaData()
received = Table("received", probe_metadata, Column("event_id", String(36)),
                 Column("note", String(100)))
# Checked only at COMMIT: a duplicate passes every statement and fails the commit itself.
claims = Table("claims", probe_metadata, Column("key", String(20)),
               UniqueConstraint("key", deferrable=True, initially="DEFERRED"))


class ProbeProducer:
    """A producer whose relay is under the test's control (relay=False)."""

    name = "probe_producer"
    db = Database(relay=False)

    @rpc
    def claim_twice(self, key):
        self.db.session.execute(insert(claims), [{"key": key}, {"key": key}])
        self.db.emit("thing_happened", {"note": f"claimed {key}"})
        return "ok"


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

    @event_handler("probe_producer", "outage_sent")
    def on_outage(self, event):
        OUTAGE_CALLS.append(event["event_id"])
        raise errors.ServiceUnavailable("The database is unavailable, retry later")


OUTAGE_CALLS: list[str] = []


def _fresh_engine(service: str, metadata_list):
    ensure_database(service)
    engine = create_engine(database_settings(service).url)
    for metadata in metadata_list:
        metadata.create_all(engine)
    return engine


@pytest.fixture
def engines():
    producer = _fresh_engine("probe_producer", [kit_metadata, probe_metadata])
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


def _parked_poison(amqp_uri: str, kind: str = "poison"):
    """The `<kind>_sent` event once it sits in its dead-letter queue (taken off it)."""
    dlq = f"evt-probe_producer-{kind}_sent--probe_consumer.on_{kind}.dlq"
    with Connection(amqp_uri) as conn:
        channel = conn.channel()

        def parked():
            try:
                return channel.queue_declare(dlq, passive=True).message_count >= 1
            except Exception:  # noqa: BLE001 (not declared yet)
                return False
        assert wait_until(parked, timeout=15)
        return channel.basic_get(dlq, no_ack=True)


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
    assert wait_until(lambda: handled() == 1)
    time.sleep(1.0)  # the duplicate delivery has had time to arrive and be skipped
    assert handled() == 1
    with producer_db.connect() as conn:
        assert conn.execute(select(outbox.c.published_at)
                            .where(outbox.c.event_id == event_id)).scalar() is not None
    assert relay_once(producer_db, EventPublisher(amqp_uri, "probe_producer")) == 0


def test_an_undecodable_message_is_parked_and_the_consumer_keeps_going(engines,
                                                                       start_service):
    """A body that is not JSON used to end nameko's consumer thread, killing the service,
    and the broker gave the same message to the restarted one."""
    producer_db, consumer_db = engines
    start_service(ProbeConsumer)
    amqp_uri = bus_settings().amqp_uri
    with Connection(amqp_uri) as conn:
        conn.Producer().publish(b"{not json", exchange="probe_producer.events",
                                routing_key="thing_happened", content_type="application/json",
                                content_encoding="utf-8", headers={"x-probe": "bad"})
    event_id = _commit_event(producer_db, "thing_happened", "after the bad one")
    relay_once(producer_db, EventPublisher(amqp_uri, "probe_producer"))

    def handled():
        with consumer_db.connect() as conn:
            return conn.execute(select(func.count()).select_from(received)
                                .where(received.c.event_id == event_id)).scalar()
    assert wait_until(lambda: handled() == 1)
    dlq = "evt-probe_producer-thing_happened--probe_consumer.on_thing.dlq"
    with Connection(amqp_uri) as conn:
        parked = conn.default_channel.basic_get(dlq, no_ack=True)
        assert parked is not None and parked.body in ("{not json", b"{not json")
        assert parked.headers["x-probe"] == "bad"


def test_failing_consumer_retries_then_parks_the_event(engines, start_service):
    producer_db, _ = engines
    start_service(ProbeConsumer)
    event_id = _commit_event(producer_db, "poison_sent", "poison")
    relay_once(producer_db, EventPublisher(bus_settings().amqp_uri, "probe_producer"))
    message = _parked_poison(bus_settings().amqp_uri)
    body = json.loads(message.body)
    assert body["event_id"] == event_id
    assert message.headers["x-crm-attempt"] == 4  # three attempts, then parked


def test_an_outage_retries_without_counting_until_the_patience_runs_out(
        engines, start_service, monkeypatch):
    producer_db, _ = engines
    monkeypatch.setenv("CRM_EVENT_OUTAGE_PATIENCE_S", "1.5")
    start_service(ProbeConsumer)
    event_id = _commit_event(producer_db, "outage_sent", "outage")
    relay_once(producer_db, EventPublisher(bus_settings().amqp_uri, "probe_producer"))
    message = _parked_poison(bus_settings().amqp_uri, "outage")
    assert json.loads(message.body)["event_id"] == event_id
    # More tries than CRM_EVENT_MAX_ATTEMPTS (3 here): the outage did not count them.
    assert OUTAGE_CALLS.count(event_id) > bus_settings().event_max_attempts
    assert "x-crm-attempt" not in message.headers
    assert time.time() - message.headers["x-crm-outage-since"] >= 1.5


def test_a_failed_commit_is_the_reply_and_leaves_no_event(engines, start_service, rpc_as):
    """The unit of work commits before nameko replies: if the commit fails, the caller
    hears the failure (a commit after the reply would have answered "ok")."""
    producer_db, _ = engines
    start_service(ProbeProducer)
    with pytest.raises(errors.Conflict) as info:
        rpc_as(None, "probe_producer").claim_twice(key="k1")
    assert info.value.code == "duplicate"
    with producer_db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox).where(
            outbox.c.data["note"].astext == "claimed k1")).scalar() == 0
        assert conn.execute(select(func.count()).select_from(claims)).scalar() == 0


@pytest.fixture
def quorum_bus(monkeypatch):
    """A vhost of its own with CRM_QUEUE_TYPE=quorum (what a RabbitMQ cluster runs)."""
    import shutil
    import subprocess
    assert shutil.which("rabbitmqctl"), "these tests manage a vhost with rabbitmqctl"
    vhost = f"crmtest_quorum_{uuid.uuid4().hex[:8]}"

    def ctl(*args):
        return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                              check=True).stdout
    ctl("add_vhost", vhost)
    ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    parts = urlsplit(bus_settings().amqp_uri)
    monkeypatch.setenv("CRM_AMQP_URI", urlunsplit(parts._replace(path=f"/{vhost}")))
    monkeypatch.setenv("CRM_QUEUE_TYPE", "quorum")
    yield lambda: {line.split("\t")[0]: line.split("\t")[1] for line in ctl(
        "list_queues", "-p", vhost, "name", "type", "--no-table-headers").splitlines()
        if "\t" in line}
    ctl("delete_vhost", vhost)


def test_quorum_queues_carry_events_retries_and_parking(engines, quorum_bus):
    from nameko.containers import ServiceContainer
    producer_db, consumer_db = engines
    settings = bus_settings()
    container = ServiceContainer(ProbeConsumer, settings.nameko_config())
    container.start()
    try:
        ok_id = _commit_event(producer_db, "thing_happened", "quorum")
        poison_id = _commit_event(producer_db, "poison_sent", "poison")
        relay_once(producer_db, EventPublisher(settings.amqp_uri, "probe_producer"))

        def handled():
            with consumer_db.connect() as conn:
                return conn.execute(select(func.count()).select_from(received)
                                    .where(received.c.event_id == ok_id)).scalar()
        assert wait_until(lambda: handled() == 1)
        assert json.loads(_parked_poison(settings.amqp_uri).body)["event_id"] == poison_id
        types = quorum_bus()
        ours = {name: kind for name, kind in types.items() if "probe_consumer" in name}
        # The three event queues, and the retry and dead-letter queues of the one that
        # failed.
        assert len(ours) == 5 and set(ours.values()) == {"quorum"}, types
    finally:
        container.stop()
