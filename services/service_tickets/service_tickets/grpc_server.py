"""The gRPC API of service_tickets, served by its own process: `python -m
service_tickets.grpc_server`. grpcio deadlocks under eventlet, so this process never
monkey-patches: a plain thread pool serves calls, each one verifies the caller's token and
runs one use case in one unit of work (committed or rolled back), and OS threads relay the
outbox and follow token revocations. No AMQP hop on the way to the database."""
import functools
import hashlib
import logging
import re
import signal
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from sqlalchemy.orm import sessionmaker

from crmkit.context import IDEMPOTENCY_KEY, REQUEST_HASH, REQUEST_ID, Caller
from crmkit.database import UnitOfWork, make_engine, translate_db_error
from crmkit.errors import CrmError, ValidationFailed
from crmkit.idempotency import run_idempotently
from crmkit.jsonlog import configure_logging, request_id_var
from crmkit.outbox import ThreadedOutboxRelay
from crmkit.settings import (
    bus_settings,
    database_settings,
    env,
    log_level,
    token_settings,
)
from crmkit.tokens import TokenVerifier
from service_tickets.grpc_auth import RevocationFeed, authenticate
from service_tickets.grpc_messages import from_dict, to_dict
from service_tickets.grpc_methods import METHODS, SERVICE_NAME, Method, check_covers_service
from service_tickets.grpc_status import details_of, internal_details, status_of

log = logging.getLogger("service_tickets.grpc")

SERVICE = "service_tickets"
REQUEST_ID_FORM = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
IDEMPOTENCY_KEY_FORM = re.compile(r"^[\x21-\x7e]{1,200}$")
# Requests are a few hundred bytes; a megabyte is generous and bounds what a client can
# make this process parse.
MAX_MESSAGE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class GrpcSettings:
    host: str
    port: int
    max_workers: int
    # Calls beyond this many in flight are refused with RESOURCE_EXHAUSTED, not queued.
    max_concurrent_rpcs: int
    # How long calls in flight may finish on SIGTERM.
    shutdown_grace_s: float


def grpc_settings() -> GrpcSettings:
    max_workers = env.int("CRM_GRPC_MAX_WORKERS", 16)
    return GrpcSettings(
        host=env.str("CRM_GRPC_HOST", "127.0.0.1"),
        port=env.int("CRM_GRPC_PORT", 50051),
        max_workers=max_workers,
        max_concurrent_rpcs=env.int("CRM_GRPC_MAX_CONCURRENT_RPCS", max_workers * 8),
        shutdown_grace_s=env.float("CRM_GRPC_SHUTDOWN_GRACE_S", 5.0),
    )


class MalformedRequest:
    """Stands in for a request whose bytes did not parse (see `_parser`)."""

    def __init__(self, problem: str):
        self.problem = problem


def _parser(message_class: type[Message]):
    def parse(raw: bytes):
        try:
            return message_class.FromString(raw)
        except DecodeError as exc:
            # grpcio answers an exception of a deserializer with INTERNAL; bad bytes are
            # the client's fault, so the handler answers INVALID_ARGUMENT instead.
            return MalformedRequest(str(exc) or "undecodable message")
    return parse


def _metadata_value(metadata, key: str) -> str | None:
    for name, value in metadata:
        if name == key:
            return value
    return None


class TicketsApi:
    """Turns one gRPC call into one unit of work and its answer."""

    def __init__(self, session_factory: sessionmaker, tokens: TokenVerifier,
                 feed: RevocationFeed, relay: ThreadedOutboxRelay):
        self.session_factory = session_factory
        self.tokens = tokens
        self.feed = feed
        self.relay = relay

    def generic_handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(SERVICE_NAME, {
            name: grpc.unary_unary_rpc_method_handler(
                functools.partial(self.call, method),
                request_deserializer=_parser(method.request),
                response_serializer=method.response.SerializeToString)
            for name, method in METHODS.items()})

    def call(self, method: Method, request, context: grpc.ServicerContext):
        metadata = context.invocation_metadata()
        request_id = _metadata_value(metadata, "x-request-id") or ""
        if not REQUEST_ID_FORM.match(request_id):
            request_id = uuid.uuid4().hex
        request_id_var.set(request_id)
        context.set_trailing_metadata((("x-request-id", request_id),))
        try:
            caller = authenticate(metadata, self.tokens, self.feed)
            if isinstance(request, MalformedRequest):
                raise ValidationFailed(f"The request is not a valid {method.request.__name__}",
                                       {"_body": [request.problem]}, code="malformed_request")
            return from_dict(method.response, self.run(method, request, caller, request_id,
                                                       metadata))
        except CrmError as exc:
            context.abort(status_of(exc), details_of(exc))
        except Exception:  # noqa: BLE001 (anything else is our bug: log it, leak nothing)
            log.exception("gRPC %s failed", method.name)
            context.abort(grpc.StatusCode.INTERNAL, internal_details(request_id))

    def run(self, method: Method, request: Message, caller: Caller, request_id: str,
            metadata) -> dict:
        context = {key: value for key, value in caller.to_context_data().items()
                   if value is not None}
        context[REQUEST_ID] = request_id
        key = _metadata_value(metadata, "idempotency-key") if method.idempotent_as else None
        if key is not None:
            if not IDEMPOTENCY_KEY_FORM.match(key):
                raise ValidationFailed("Invalid idempotency-key", {
                    "idempotency-key": ["1 to 200 visible ASCII characters"]})
            context[IDEMPOTENCY_KEY] = key
            context[REQUEST_HASH] = hashlib.sha256(
                method.name.encode() + b"\n" + request.SerializeToString(deterministic=True)
            ).hexdigest()
        unit = UnitOfWork(self.session_factory, context, SERVICE)
        try:
            data = to_dict(request)
            if key is not None:
                result = run_idempotently(unit, method.idempotent_as, key,
                                          context[REQUEST_HASH], lambda: method.run(unit, data))
            else:
                result = method.run(unit, data)
            unit.commit()
        except Exception as exc:  # noqa: BLE001 (re-raised, database errors as typed ones)
            try:
                unit.rollback()
            except Exception:  # noqa: BLE001 (a dead connection fails its rollback too)
                log.warning("rollback failed", exc_info=True)
            typed = translate_db_error(exc)
            if typed is not exc:
                log.warning("database error answered as %s", type(typed).__name__,
                            exc_info=exc)
            raise typed from None
        finally:
            unit.close()
        if unit.emitted:
            self.relay.kick()
        return result


class GrpcServer:
    """Every part of the process, started and stopped together."""

    def __init__(self, settings: GrpcSettings | None = None):
        check_covers_service()
        self.settings = settings or grpc_settings()
        db = database_settings(SERVICE)
        if db.pool_size + db.max_overflow < self.settings.max_workers:
            raise ValueError("CRM_DB_POOL_SIZE + CRM_DB_MAX_OVERFLOW must cover "
                             "CRM_GRPC_MAX_WORKERS (a worker would wait for a connection)")
        bus = bus_settings()
        tokens = token_settings()
        self.engine = make_engine(db)
        self.relay = ThreadedOutboxRelay(self.engine, SERVICE, bus.amqp_uri,
                                         db.outbox_poll_interval)
        self.health = health.HealthServicer()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.feed = RevocationFeed(bus.amqp_uri, tokens.access_ttl, on_synced=self._serving)
        self.api = TicketsApi(sessionmaker(self.engine, expire_on_commit=False),
                              TokenVerifier(tokens),
                              self.feed, self.relay)
        self.server = grpc.server(
            ThreadPoolExecutor(self.settings.max_workers, thread_name_prefix="grpc"),
            handlers=(self.api.generic_handler(),),
            maximum_concurrent_rpcs=self.settings.max_concurrent_rpcs,
            options=(("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._relay_thread = threading.Thread(target=self.relay.run, name="outbox-relay",
                                              daemon=True)
        self.port: int | None = None

    def _serving(self) -> None:
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def start(self) -> int:
        self.port = self.server.add_insecure_port(f"{self.settings.host}:{self.settings.port}")
        if not self.port:
            raise RuntimeError(f"cannot listen on {self.settings.host}:{self.settings.port}")
        self._relay_thread.start()
        self.feed.start()
        self.server.start()
        log.info("gRPC API listening", extra={"port": self.port})
        return self.port

    def stop(self) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(self.settings.shutdown_grace_s).wait()
        self.feed.stop()
        self.relay.stop()
        self._relay_thread.join(timeout=5)
        self.engine.dispose()


def serve(settings: GrpcSettings | None = None, stopping: threading.Event | None = None):
    """Run until `stopping` is set (SIGTERM or SIGINT when run as a program)."""
    stopping = stopping or threading.Event()
    server = GrpcServer(settings)
    server.start()
    try:
        while not stopping.wait(1):
            pass
    finally:
        server.stop()


def main() -> None:
    configure_logging(SERVICE, log_level())
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    serve(stopping=stopping)


if __name__ == "__main__":
    main()
