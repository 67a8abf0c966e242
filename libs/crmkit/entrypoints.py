"""nameko entrypoints with the kit's guarantees.

`rpc`: the unit of work commits *before* the reply is sent (nameko replies before running
dependencies' `worker_result`, so a commit there could fail after the caller saw success),
database failures become typed errors, and replies skip publisher confirms and reuse one
connection (see `_ReplyPublisher`). A reply is encoded once (nameko encodes every result
twice: once to check it can, once to send it), and a method may return `JsonText`, a
result already encoded as JSON (a cached report), which is sent as it is.

`timer`: periodic work with the same commit-or-roll-back.

`event_handler`: competing consumers per service, the handled `event_id` claimed in the
same transaction as the effects (duplicates are skipped), and failures retried through
a delay queue a bounded number of times, then parked in a dead-letter queue, never
silently acked; an outage of the database or of a called service retries without counting.

`batch_event_handler`: the same guarantees for a high-volume event, handled up to
`event_batch_max` queued events per transaction (see `BatchEventHandler`).
"""
import functools
import json
import logging
import sys
import time
from collections import OrderedDict

import kombu.serialization
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu import Connection, Exchange, Queue
from kombu.exceptions import OperationalError as KombuOperationalError
from kombu.pools import producers
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_RETRY_POLICY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    SERIALIZER_CONFIG_KEY,
)
from nameko.events import EventHandler
from nameko.exceptions import ContainerBeingKilled, UnserializableValueError, serialize
from nameko.messaging import QueueConsumer
from nameko.rpc import Responder as NamekoResponder
from nameko.rpc import Rpc, RpcConsumer, get_rpc_exchange
from nameko.timer import Timer

from crmkit.database import canonical_event_id, translate_db_error, unit_of_work_of
from crmkit.errors import CrmError, ServiceUnavailable
from crmkit.settings import bus_settings

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-crm-attempt"
# When an event first failed on an outage (epoch seconds), while it keeps doing so.
OUTAGE_SINCE_HEADER = "x-crm-outage-since"


def finish_unit_of_work(worker_ctx, exc_info):
    """Let every transactional dependency commit or roll back; map DB errors to typed ones."""
    for provider in worker_ctx.container.dependencies:
        finish = getattr(provider, "finish_worker", None)
        if finish is not None:
            exc_info = finish(worker_ctx, exc_info)
    if exc_info is not None:
        translated = translate_db_error(exc_info[1])
        if translated is not exc_info[1]:
            exc_info = (type(translated), translated, exc_info[2])
    return exc_info


def ack_quietly(queue_consumer, message) -> None:
    """Ack a message. A connection that dropped meanwhile is no error: the broker requeues
    the message and it is handled again (RPC callers retry with their key, events are
    claimed once). nameko catches only amqp's ConnectionError there; an OSError such as a
    reset connection escaping from a worker kills the service container."""
    try:
        queue_consumer.ack_message(message)
    except (OSError, AmqpConnectionError):
        log.warning("ack lost with the broker connection; the message will be redelivered")


class _ReplyPublisher:
    """Publishes RPC replies through kombu's producer pool on one long-lived connection per
    process: nameko's Publisher builds a new Connection object for every reply (~150 us of
    CPU each). No confirms and transient delivery: a lost reply is a caller timeout either
    way, and a reply outliving a broker restart has no caller left."""

    _connections: dict = {}

    def __init__(self, amqp_uri, ssl=None, login_method=None, **options):
        key = (amqp_uri, repr(ssl), login_method)
        if key not in self._connections:
            self._connections[key] = Connection(
                amqp_uri, ssl=ssl, login_method=login_method,
                transport_options={"confirm_publish": False})
        self.connection = self._connections[key]

    def publish(self, payload, **kwargs):
        try:
            with producers[self.connection].acquire(block=True) as producer:
                producer.publish(payload, delivery_mode=1, retry=True,
                                 retry_policy=DEFAULT_RETRY_POLICY, **kwargs)
        except (KombuOperationalError, OSError):
            # The broker is gone (retries included). The work is committed; the reply is
            # lost as on a dropped network and the caller times out and retries (creates
            # carry an Idempotency-Key). Raising here would kill the service container.
            log.warning("RPC reply lost: the broker is unreachable", exc_info=True)


class JsonText:
    """An RPC result already encoded as JSON (UTF-8 bytes): replied as it is, never decoded
    and encoded again. The caller receives exactly what `json.loads(data)` would give."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def decoded(self):
        import json  # noqa: PLC0415 (only when a non-JSON serializer asked)
        return json.loads(self.data)


class _Responder(NamekoResponder):
    publisher_cls = _ReplyPublisher

    def send_response(self, result, exc_info):
        """nameko's, with the result encoded once (nameko encodes it to check it can, then
        again to send it) and a `JsonText` result spliced in without decoding."""
        error = serialize(exc_info[1]) if exc_info is not None else None
        content_type = self.message.properties["content_type"]
        serializer = kombu.serialization.registry.type_to_name[content_type]
        if isinstance(result, JsonText) and serializer == "json":
            encoding = "utf-8"
            body = b'{"result": ' + result.data + b', "error": null}'
        else:
            if isinstance(result, JsonText):
                result = result.decoded()
            try:
                content_type, encoding, body = kombu.serialization.dumps(
                    {"result": result, "error": error}, serializer)
            except Exception:  # noqa: BLE001 (nameko's "disaster avoidance", same answer)
                exc_info = sys.exc_info()
                error = serialize(UnserializableValueError(result))
                result = None
                content_type, encoding, body = kombu.serialization.dumps(
                    {"result": None, "error": error}, serializer)
        publisher = self.publisher_cls(self.amqp_uri, ssl=self.ssl,
                                       login_method=self.login_method)
        publisher.publish(body, content_type=content_type, content_encoding=encoding,
                          exchange=self.exchange,
                          routing_key=self.message.properties["reply_to"],
                          correlation_id=self.message.properties.get("correlation_id"))
        return result, exc_info


class ParkingQueueConsumer(QueueConsumer):
    """nameko's queue consumer, except for a message whose body cannot be decoded (not
    JSON, a content type not accepted). nameko lets that error end the consumer's thread,
    which kills the whole service, and the broker hands the same message to the restarted
    process: one bad message would keep a service down. Here it is parked in its
    handler's dead-letter queue as it arrived (or dropped, with an error logged, where
    there is none: an RPC request or reply) and the rest keep flowing."""

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = functools.partial(self.on_undecodable, provider)
        return consumers

    def on_undecodable(self, provider, message, exc) -> None:
        park = getattr(provider, "park_undecodable", None)
        log.error("undecodable message on %s (%s, %s bytes): %s; %s",
                  message.delivery_info.get("routing_key"), message.content_type,
                  len(message.body or b""), exc,
                  "parked in the dead-letter queue" if park else "dropped")
        if park is not None:
            # Before the ack: a lost connection here brings the message back. Any other
            # failure of this publish still ends the consumer thread (left as it is).
            park(message)
        self.ack_message(message)


class _RpcConsumer(RpcConsumer):
    queue_consumer = ParkingQueueConsumer()

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = _Responder(
            config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
            config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        result, exc_info = responder.send_response(result, exc_info)
        ack_quietly(self.queue_consumer, message)
        return result, exc_info


class TransactionalRpc(Rpc):
    rpc_consumer = _RpcConsumer()

    def __init__(self, expected_exceptions=CrmError, sensitive_arguments=(),
                 read_only=False, **kwargs):
        # read_only: the unit of work reads without a transaction (see crmkit.database).
        self.read_only = read_only
        super().__init__(expected_exceptions=expected_exceptions,
                         sensitive_arguments=sensitive_arguments, **kwargs)

    def handle_result(self, message, worker_ctx, result, exc_info):
        exc_info = finish_unit_of_work(worker_ctx, exc_info)
        if exc_info is not None:
            result = None
        return super().handle_result(message, worker_ctx, result, exc_info)


rpc = TransactionalRpc.decorator


class TransactionalTimer(Timer):
    """nameko's timer with the unit of work committed (or rolled back) after each tick."""

    def handle_result(self, worker_ctx, result, exc_info):
        exc_info = finish_unit_of_work(worker_ctx, exc_info)
        if exc_info is not None:
            log.warning("timer %s failed", self.method_name, exc_info=exc_info)
        return super().handle_result(worker_ctx, result, exc_info)


timer = TransactionalTimer.decorator


class IdempotentEventHandler(EventHandler):
    queue_consumer = ParkingQueueConsumer()

    def setup(self):
        super().setup()
        name = self.queue.name
        settings = bus_settings()
        arguments = settings.queue_arguments()
        # Quorum queues (a cluster) or classic ones (one broker): the event queue, its
        # retry queue and its dead-letter queue alike.
        self.queue.queue_arguments = {**(self.queue.queue_arguments or {}), **arguments}
        self.max_attempts = settings.event_max_attempts
        self.outage_patience_s = settings.event_outage_patience_s
        # Failed deliveries wait in `<queue>.retry` and dead-letter back to the queue.
        retry_exchange = Exchange("crm.retry", type="direct", durable=True)
        self.retry_queue = Queue(
            f"{name}.retry", exchange=retry_exchange, routing_key=name, durable=True,
            queue_arguments={"x-message-ttl": settings.event_retry_delay_ms,
                             "x-dead-letter-exchange": "",
                             "x-dead-letter-routing-key": name, **arguments})
        self.dead_queue = Queue(f"{name}.dlq", exchange=Exchange("crm.dlq", type="direct",
                                                                 durable=True),
                                routing_key=name, durable=True, queue_arguments=arguments)
        self.retry_exchange = retry_exchange
        self.publisher = Publisher(self.container.config[AMQP_URI_CONFIG_KEY],
                                   declare=[self.retry_queue, self.dead_queue])

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        exc_info = finish_unit_of_work(worker_ctx, exc_info)
        if exc_info is not None:
            self._retry_or_park(message, exc_info)
        ack_quietly(self.queue_consumer, message)
        return result, exc_info

    def park_undecodable(self, message) -> None:
        """The message as it arrived, into this handler's dead-letter queue."""
        self.publisher.publish(
            message.body, exchange=self.dead_queue.exchange,
            routing_key=self.dead_queue.routing_key, headers=dict(message.headers or {}),
            content_type=message.content_type or "application/octet-stream",
            content_encoding=message.content_encoding or "binary", delivery_mode=2)

    def _retry_or_park(self, message, exc_info):
        headers = dict(message.headers or {})
        attempt = int(headers.get(ATTEMPT_HEADER, 1))
        # A database or a service that is down says nothing about the event: it waits in
        # the retry queue while the outage lasts, and only failures of the handling itself
        # count towards parking it. An "outage" that outlasts the patience (a statement
        # timeout, a limit that this event alone hits) is parked like any failure.
        outage = isinstance(exc_info[1], ServiceUnavailable)
        now = time.time()
        since = float(headers.get(OUTAGE_SINCE_HEADER, now))
        if outage:
            headers[OUTAGE_SINCE_HEADER] = since
        else:
            headers.pop(OUTAGE_SINCE_HEADER, None)
            headers[ATTEMPT_HEADER] = attempt + 1
        parked = (now - since > self.outage_patience_s if outage
                  else attempt >= self.max_attempts)
        target = self.dead_queue if parked else self.retry_queue
        log.warning("event handler %s failed (attempt %s), %s", self.method_name, attempt,
                    "parked in dead-letter queue" if parked else
                    "will retry after the outage" if outage else "will retry",
                    exc_info=exc_info if parked or not outage else None)
        # Published before the ack: if this publish fails the ack never happens and the
        # broker redelivers the original.
        self.publisher.publish(message.payload, exchange=target.exchange,
                               routing_key=target.routing_key, headers=headers,
                               serializer="json", delivery_mode=2)


def event_handler(source_service: str, event_type: str):
    """Decorate a service method `(self, event: dict)` to handle each event once."""
    def decorator(fn):
        @functools.wraps(fn)
        def handle_once(self, event):
            unit = unit_of_work_of(self)
            consumer = f"{type(self).name}.{fn.__name__}"
            if not unit.claim_event(event["event_id"], consumer):
                log.info("skipping event %s already handled by %s", event["event_id"], consumer)
                return None
            return fn(self, event)
        return IdempotentEventHandler.decorator(
            source_service, event_type, reliable_delivery=True,
            requeue_on_error=False)(handle_once)
    return decorator


class ReceivedEvent(dict):
    """An event as delivered, with the JSON text it arrived as (`raw_json`): a consumer
    that stores the envelope (reporting's archive) need not encode it again."""

    __slots__ = ("raw_json",)


def decode_event(message):
    """The body of a delivered event. JSON is parsed here rather than by kombu, whose
    decoder calls a Python hook for every JSON object (to revive its own `__type__`
    markers, which our envelopes, read back from an outbox's JSONB, never carry): in a
    backlog that hook and the decoder it builds per message cost reporting more than the
    parse. Anything else (another content type, a marker, a body that is not a JSON
    object) is decoded by kombu as before."""
    body = message.body  # py-amqp hands over a UTF-8 body as text
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            body = bytes(body).decode()
        except UnicodeDecodeError:
            return message.decode()
    if (message.content_type != "application/json" or not isinstance(body, str)
            or '"__type__"' in body):
        return message.decode()
    try:
        parsed = json.loads(body)
    except ValueError:
        return message.decode()
    if not isinstance(parsed, dict):
        return message.decode()
    event = ReceivedEvent(parsed)
    event.raw_json = body
    return event


class _BatchQueueConsumer(ParkingQueueConsumer):
    """nameko's queue consumer (reconnects, heartbeats) on a connection of its own, with a
    prefetch that leaves room for the batches in flight and the next one queuing (the
    shared consumer's prefetch is `max_workers`). Unlike nameko's it starts no thread per message
    (the batching handler only queues it) and acks a whole batch with one `multiple` ack:
    the deliveries of each channel are tracked in order, and an ack covers only the oldest
    ones that are all settled, never one still being handled."""

    def __init__(self):
        super().__init__()
        # Per channel, deliveries in order: tag -> None while unsettled, then "ack" or
        # "requeued".
        self._unsettled: dict = {}

    @property
    def prefetch_count(self):
        settings = bus_settings()
        # AMQP's prefetch count is a 16-bit field.
        return min(65535, (settings.event_batches_in_flight + 1) * settings.event_batch_max)

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        # kombu decodes a body only for `callbacks`; `on_message` gets it undecoded.
        for provider, consumer in self._consumers.items():
            consumer.callbacks = []
            consumer.on_message = functools.partial(self._on_undecoded, provider)
        return consumers

    def _on_undecoded(self, provider, message):
        try:
            event = decode_event(message)
        except Exception as exc:  # noqa: BLE001 (kombu's decoders raise many kinds)
            self.on_undecodable(provider, message, exc)
            return
        self.handle_message(provider, event, message)

    def handle_message(self, provider, body, message):
        self._unsettled.setdefault(message.channel, OrderedDict())[message.delivery_tag] = None
        provider.handle_message(body, message)

    def ack_message(self, message):
        self.ack_messages([message])

    def ack_messages(self, messages) -> None:
        self._settle(messages, "ack")

    def requeue_message(self, message):
        super().requeue_message(message)
        self._settle([message], "requeued")

    def _settle(self, messages, how: str) -> None:
        touched = {}
        for message in messages:
            deliveries = self._unsettled.get(message.channel)
            if deliveries is None or message.delivery_tag not in deliveries:
                if how == "ack":
                    ack_quietly(super(), message)
                continue
            deliveries[message.delivery_tag] = how
            touched[message.channel] = deliveries
        for channel, deliveries in touched.items():
            last = None
            while deliveries:
                tag, state = next(iter(deliveries.items()))
                if state is None:
                    break
                deliveries.popitem(last=False)
                if state == "ack":
                    last = tag
            if not deliveries:
                del self._unsettled[channel]
            # Every delivery up to `last` is settled: acked here, or requeued already
            # (which a multiple ack passes over).
            if last is not None and channel.connection:
                try:
                    channel.basic_ack(last, multiple=True)
                except (OSError, AmqpConnectionError):  # the broker redelivers them
                    pass


class BatchEventHandler(IdempotentEventHandler):
    """Hands the decorated method up to `event_batch_max` queued events at once, in one
    worker and so in one transaction; the queue, its retry and dead-letter queues and the
    handler's claims are the same as `event_handler`'s.

    Batches form by themselves: a delivery starts a batch when fewer than
    `event_batches_in_flight` are running, otherwise it waits for one to end and goes with
    everything that arrived meanwhile. An idle queue therefore handles each event at once
    (no waiting for a batch to fill); a backlog is taken in large batches.

    The batch's messages are acked only after its transaction committed; a crash before
    that redelivers them all, and their claims (committed with the effects) make a
    redelivered event count once. A batch that fails is rolled back and each of its events
    is handled again alone, so one bad event is retried and parked by itself."""

    queue_consumer = _BatchQueueConsumer()

    def setup(self):
        super().setup()
        settings = bus_settings()
        self.max_batch = max(1, settings.event_batch_max)
        self.batches_in_flight = settings.event_batches_in_flight
        self._pending: list = []
        self._running = 0
        self._stopping = False

    def stop(self):
        self._stopping = True
        super().stop()
        pending, self._pending = self._pending, []
        for _, message in pending:
            self.queue_consumer.requeue_message(message)

    def handle_message(self, body, message):
        """In the queue consumer's thread: queue the message, start a batch if a slot is
        free (in a thread of its own: starting a worker may wait for a free one)."""
        if self._stopping:
            self.queue_consumer.requeue_message(message)
            return
        self._pending.append((body, message))
        self._start_if_free()

    def _start_if_free(self) -> None:
        if self._pending and self._running < self.batches_in_flight and not self._stopping:
            self._running += 1
            self.container.spawn_managed_thread(self._start_batch,
                                                identifier=f"{self.method_name}.batch")

    def _start_batch(self) -> None:
        batch = self._pending[:self.max_batch]
        del self._pending[:self.max_batch]
        if batch:
            self._spawn(batch)
        else:
            self._running -= 1

    def _spawn(self, batch: list) -> None:
        """Run `batch` in a worker; its slot in `_running` is taken already."""
        # Events carry their actor; a batch mixes callers, so only a lone event keeps its
        # message's context (request id, caller).
        context = self.unpack_message_headers(batch[0][1]) if len(batch) == 1 else {}
        try:
            self.container.spawn_worker(
                self, ([body for body, _ in batch],), {}, context_data=context,
                handle_result=functools.partial(self.handle_batch_result, batch))
        except ContainerBeingKilled:
            self._running -= 1
            for _, message in batch:
                self.queue_consumer.requeue_message(message)

    def handle_batch_result(self, batch, worker_ctx, result=None, exc_info=None):
        exc_info = finish_unit_of_work(worker_ctx, exc_info)
        self._running -= 1
        if exc_info is None:
            self.queue_consumer.ack_messages([message for _, message in batch])
        elif len(batch) == 1 or isinstance(exc_info[1], ServiceUnavailable):
            # One event, or an outage, which would fail each event alone just the same.
            for _, message in batch:
                self._retry_or_park(message, exc_info)
                ack_quietly(self.queue_consumer, message)
        else:
            log.warning("event handler %s failed on a batch of %s, handling each alone",
                        self.method_name, len(batch), exc_info=exc_info)
            for item in batch:
                self._running += 1
                self._spawn([item])
        self._start_if_free()
        return result, exc_info


def batch_event_handler(source_service: str, event_type: str):
    """Decorate a service method `(self, events: list[dict])` handling a batch of events in
    one transaction. It gets only the events it has not handled before (claimed in that
    transaction, duplicates inside the batch dropped), in delivery order, never an empty
    list. The handler key (`<service>.<method>`) and the queue are `event_handler`'s: a
    method may move from one decorator to the other without handling anything twice."""
    def decorator(fn):
        @functools.wraps(fn)
        def handle_batch(self, events):
            unit = unit_of_work_of(self)
            consumer = f"{type(self).name}.{fn.__name__}"
            ids = [canonical_event_id(event["event_id"]) for event in events]
            fresh = unit.claim_events(ids, consumer)
            todo = []
            for event_id, event in zip(ids, events, strict=True):
                if event_id in fresh:
                    fresh.discard(event_id)
                    todo.append(event)
            if len(todo) < len(events):
                log.info("skipping %s events already handled by %s", len(events) - len(todo),
                         consumer)
            return fn(self, todo) if todo else None
        return BatchEventHandler.decorator(
            source_service, event_type, reliable_delivery=True,
            requeue_on_error=False)(handle_batch)
    return decorator
