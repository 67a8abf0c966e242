"""Who is calling the gRPC API: the same access tokens the gateway accepts (verified
locally), refused when revoked. The revocation list is the kit's `Revocations`, kept
current here by an OS thread that consumes accounts' events with kombu (this process runs
without eventlet, so no aio_pika loop and no green threads)."""
import logging
import threading
import uuid

from kombu import Connection, Consumer, Exchange, Queue, binding
from nameko.standalone.rpc import ClusterRpcProxy

from crmkit.context import Caller
from crmkit.errors import NotAuthenticated, ServiceUnavailable
from crmkit.revocations import EVENTS, Revocations
from crmkit.tokens import TokenVerifier

log = logging.getLogger(__name__)

RECONNECT_DELAY_S = 1.0
SNAPSHOT_TIMEOUT_S = 2.0


class RevocationFeed:
    """Subscribes to accounts' revocation events first, then loads accounts' snapshot, so
    no revocation falls between the two; after a lost connection it does both again."""

    def __init__(self, amqp_uri: str, access_ttl: int, on_synced=None):
        self.amqp_uri = amqp_uri
        self.revocations = Revocations(access_ttl)
        self._lock = threading.Lock()
        self._on_synced = on_synced
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="revocation-feed", daemon=True)

    @property
    def synced(self) -> bool:
        return self.revocations.synced

    def is_revoked(self, claims: dict) -> bool:
        # The feed thread changes the dicts that `is_revoked` iterates.
        with self._lock:
            return self.revocations.is_revoked(claims)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        # A daemon thread: one stuck in a snapshot call ends with the process.
        self._thread.join(timeout=1)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._consume()
            except Exception:  # noqa: BLE001 (broker or accounts down: retry, keep serving)
                log.warning("revocation feed lost; reconnecting", exc_info=True)
                self._stopping.wait(RECONNECT_DELAY_S)

    def _consume(self) -> None:
        exchange = Exchange("accounts.events", type="topic", durable=True)
        queue = Queue(f"service_tickets-grpc-revocations-{uuid.uuid4()}", exchange=exchange,
                      bindings=[binding(exchange, routing_key=event) for event in EVENTS],
                      exclusive=True, auto_delete=True)
        with Connection(self.amqp_uri, heartbeat=30) as connection:
            with Consumer(connection.channel(), [queue], callbacks=[self._on_message],
                          accept=["json"]):
                self._load_snapshot()
                while not self._stopping.is_set():
                    try:
                        connection.drain_events(timeout=1)
                    except TimeoutError:  # kombu's socket.timeout: no event this second
                        connection.heartbeat_check()

    def _load_snapshot(self) -> None:
        config = {"AMQP_URI": self.amqp_uri}
        while not self._stopping.is_set():
            try:
                with ClusterRpcProxy(config, timeout=SNAPSHOT_TIMEOUT_S) as rpc:
                    snapshot = rpc.accounts.list_revocations()
                break
            except Exception as exc:  # noqa: BLE001 (accounts may still be starting)
                log.info("accounts' revocation snapshot not available yet (%s)",
                         type(exc).__name__)
                self._stopping.wait(RECONNECT_DELAY_S)
        else:
            return
        with self._lock:
            self.revocations.load(snapshot)
        if self._on_synced is not None:
            self._on_synced()

    def _on_message(self, body, message) -> None:
        try:
            with self._lock:
                self.revocations.apply(body["type"], body["data"])
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring malformed revocation event")
        message.ack()


def bearer_token(metadata) -> str:
    for key, value in metadata:
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            break
    raise NotAuthenticated("A bearer token is required in the `authorization` metadata")


def authenticate(metadata, tokens: TokenVerifier, feed: RevocationFeed) -> Caller:
    caller, claims = tokens.verify(bearer_token(metadata))
    if not feed.synced:
        raise ServiceUnavailable("The gRPC server is still starting")
    if feed.is_revoked(claims):
        raise NotAuthenticated("The token has been revoked", code="token_revoked")
    return caller
