"""The outbox relay: publishes committed outbox rows to the service's event exchange, then
marks them sent. Rows are claimed with FOR UPDATE SKIP LOCKED, so replicas share the work
and never publish the same row at the same time; a crash after publishing and before
marking republishes the row, which idempotent consumers absorb."""
import logging
import threading

import eventlet
from eventlet.event import Event
from kombu import Connection, Producer
from nameko.constants import HEADER_PREFIX
from nameko.standalone.events import get_event_exchange
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from crmkit.database import utcnow
from crmkit.tables import outbox

log = logging.getLogger(__name__)

BATCH_SIZE = 200


def envelope(row) -> dict:
    return {
        "event_id": str(row.event_id),
        "type": row.type,
        "version": row.version,
        "occurred_at": row.occurred_at.isoformat(),
        "actor": row.actor,
        "data": row.data,
    }


class EventPublisher:
    """Publishes envelopes to `<service>.events` with publisher confirms: a row is marked
    sent only once the broker has taken responsibility for it."""

    def __init__(self, amqp_uri: str, service: str):
        self.amqp_uri = amqp_uri
        self.exchange = get_event_exchange(service, {})
        self._connection: Connection | None = None
        self._producer: Producer | None = None

    def _ensure(self) -> Producer:
        if self._producer is None:
            self._connection = Connection(self.amqp_uri,
                                          transport_options={"confirm_publish": True})
            self._producer = Producer(self._connection.channel(), exchange=self.exchange)
            self.exchange(self._producer.channel).declare()
        return self._producer

    def publish(self, env: dict, request_id: str | None) -> None:
        headers = {f"{HEADER_PREFIX}.request_id": request_id} if request_id else {}
        try:
            self._ensure().publish(env, routing_key=env["type"], serializer="json",
                                   delivery_mode=2, headers=headers,
                                   message_id=env["event_id"])
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # noqa: BLE001 (closing a broken connection may fail too)
                pass
        self._connection = self._producer = None


def relay_once(engine: Engine, publisher: EventPublisher, batch_size: int = BATCH_SIZE) -> int:
    """Publish one batch of unpublished rows; returns how many were sent."""
    with engine.begin() as conn:
        rows = conn.execute(
            select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id)
            .limit(batch_size).with_for_update(skip_locked=True)
        ).all()
        sent = []
        for row in rows:
            publisher.publish(envelope(row), row.request_id)
            sent.append(row.id)
        if sent:
            conn.execute(update(outbox).where(outbox.c.id.in_(sent))
                         .values(published_at=utcnow()))
    return len(sent)


class _RelayLoop:
    """Runs `relay_once` in a loop: woken right after a commit that emitted events, and on a
    timer so rows left by a crash (of this or another replica) are sent too. Subclasses
    supply the wake-up for their concurrency model."""

    def __init__(self, engine: Engine, service: str, amqp_uri: str, poll_interval: float):
        self.engine = engine
        self.publisher = EventPublisher(amqp_uri, service)
        self.poll_interval = poll_interval
        self._running = False

    def kick(self) -> None:
        raise NotImplementedError

    def _wait(self, seconds: float) -> None:
        raise NotImplementedError

    def run(self) -> None:
        self._running = True
        backoff = self.poll_interval
        while self._running:
            try:
                while self._running and relay_once(self.engine, self.publisher) == BATCH_SIZE:
                    pass
                backoff = self.poll_interval
            except Exception:  # noqa: BLE001 (broker or DB down: keep the rows, retry later)
                log.warning("outbox relay failed; will retry", exc_info=True)
                backoff = min(backoff * 2, 30.0)
            self._wait(backoff)
        self.publisher.close()

    def stop(self) -> None:
        self._running = False
        self.kick()


class OutboxRelay(_RelayLoop):
    """The relay of a nameko (eventlet) process, run as a managed green thread."""

    def __init__(self, engine: Engine, service: str, amqp_uri: str, poll_interval: float):
        super().__init__(engine, service, amqp_uri, poll_interval)
        self._wakeup = Event()

    def kick(self) -> None:
        if not self._wakeup.ready():
            self._wakeup.send(True)

    def _wait(self, seconds: float) -> None:
        with eventlet.Timeout(seconds, False):
            self._wakeup.wait()
        if self._wakeup.ready():
            self._wakeup.reset()


class ThreadedOutboxRelay(_RelayLoop):
    """The relay of a process without eventlet (a gRPC server): run `run` in an OS thread;
    `kick` may be called from any thread."""

    def __init__(self, engine: Engine, service: str, amqp_uri: str, poll_interval: float):
        super().__init__(engine, service, amqp_uri, poll_interval)
        self._wakeup = threading.Event()

    def kick(self) -> None:
        self._wakeup.set()

    def _wait(self, seconds: float) -> None:
        self._wakeup.wait(seconds)
        self._wakeup.clear()
