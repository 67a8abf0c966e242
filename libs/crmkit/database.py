"""The per-worker unit of work: one SQLAlchemy session per nameko worker, committed by the
entrypoint before it replies (or acks), rolled back on error. Events (outbox rows) and
audit entries are written through it, in the same transaction as the change.

An entrypoint declared read-only (`@rpc(read_only=True)`) gets a session in autocommit:
no BEGIN and no COMMIT, one round trip per query instead of three for a one-query read
(bench/gateway.py). Under READ COMMITTED every statement of a transaction takes its own
snapshot anyway, so its reads see what they would have seen in one. Such a session
refuses to write (`ReadOnlyViolation`), since nothing would roll a write back."""
import json
import logging
import uuid
from datetime import UTC, datetime
from weakref import WeakKeyDictionary

from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import TextClause

from crmkit import errors
from crmkit.context import REQUEST_ID, Caller
from crmkit.settings import DatabaseSettings, bus_settings, database_settings
from crmkit.tables import audit_log, outbox

log = logging.getLogger(__name__)

# Written out once: every consumed event runs a claim, and SQLAlchemy never caches a
# PostgreSQL `INSERT ... ON CONFLICT` (it compiled this anew for every event).
_CLAIM = text("""
    INSERT INTO processed_events (consumer, event_id) VALUES (:consumer, :event_id)
    ON CONFLICT DO NOTHING RETURNING event_id""")
_CLAIM_MANY = text("""
    INSERT INTO processed_events (consumer, event_id)
    SELECT :consumer, claimed FROM unnest(CAST(:event_ids AS uuid[])) AS claimed
    ON CONFLICT DO NOTHING RETURNING event_id::text""")


class ReadOnlyViolation(RuntimeError):
    """A read-only unit of work was asked to write: a programming error."""


_WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE")


def _refuse_writes(state) -> None:
    statement = state.statement
    if state.is_insert or state.is_update or state.is_delete or (
            isinstance(statement, TextClause)
            and statement.text.lstrip().upper().startswith(_WRITES)):
        raise ReadOnlyViolation(f"a read-only entrypoint tried to write: {statement}")


def _refuse_flush(session, flush_context, instances) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyViolation("a read-only entrypoint tried to flush changed objects")


def read_only_sessions(engine: Engine) -> sessionmaker:
    """Sessions that run every statement in autocommit and refuse to write."""
    factory = sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"),
                           expire_on_commit=False)
    event.listen(factory, "do_orm_execute", _refuse_writes)
    event.listen(factory, "before_flush", _refuse_flush)
    return factory


def make_engine(settings: DatabaseSettings) -> Engine:
    return create_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        # No pre-ping: it costs a round trip per checkout; a dropped connection raises a
        # disconnect error instead, which invalidates the pool and answers 503 once.
        pool_recycle=1800,
        json_serializer=lambda obj: json.dumps(obj, ensure_ascii=False, default=str),
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def translate_db_error(exc: BaseException) -> BaseException:
    """Map database failures a client can cause (or cannot help) to typed errors."""
    if isinstance(exc, errors.CrmError):
        return exc
    if isinstance(exc, IntegrityError):
        pgcode = getattr(exc.orig, "pgcode", None)
        if pgcode == "23505":
            return errors.Conflict("A record with the same unique value exists", code="duplicate")
        if pgcode == "23503":
            return errors.Conflict("A referenced record does not exist or is still in use",
                                   code="reference_conflict")
        return errors.ValidationFailed("The record breaks a data rule")
    if isinstance(exc, DataError):
        return errors.ValidationFailed("A value is out of range or malformed")
    if isinstance(exc, ValueError) and "NUL (0x00)" in str(exc):
        # psycopg2 refuses NUL in any text parameter before it reaches the server; Text
        # fields refuse it at the edge, this catches plain string fields (e.g. filters).
        return errors.ValidationFailed("A value contains a NUL character")
    if isinstance(exc, OperationalError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return errors.ServiceUnavailable("The database is unavailable, retry later")
    return exc


class UnitOfWork:
    """What a handler gets: a session plus the two things written with every change."""

    def __init__(self, session_factory: sessionmaker, context: dict, service: str,
                 read_only: bool = False):
        self._session_factory = session_factory
        self.read_only = read_only  # the session refuses writes (see the module's doc)
        self._session: Session | None = None
        self.context = context
        self.caller = Caller.from_context_data(context)
        self.request_id = context.get(REQUEST_ID)
        self.service = service
        self.emitted = 0
        self._memo: dict = {}

    def memo(self, key: str, compute):
        """`compute()` once per unit of work (e.g. a rules table read by every dump)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def forget(self, key: str) -> None:
        self._memo.pop(key, None)

    def act_as(self, caller: Caller) -> None:
        """Work done later on someone's behalf (an event's actor) runs with their scope."""
        self.caller = caller

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self._session_factory()
        return self._session

    def one_or_missing(self, stmt, what: str, field: str | None = None, lock_of=None):
        """The one record `stmt` selects (locked FOR UPDATE OF `lock_of` if given), or
        NotFound (a 400 on `field` when the id came in a request body). Statements
        scoped to the caller make a record outside scope answer as if it did not exist."""
        if lock_of is not None:
            stmt = stmt.with_for_update(of=lock_of)
        record = self.session.execute(stmt).scalar_one_or_none()
        if record is None:
            raise errors.missing(what, field)
        return record

    def emit(self, event_type: str, data: dict, version: int = 1) -> str:
        """Record an event in the outbox; the relay publishes it after commit."""
        event_id = str(uuid.uuid4())
        self.session.execute(insert(outbox).values(
            event_id=event_id, type=event_type, version=version, occurred_at=utcnow(),
            actor=self.caller.as_actor(), data=data, request_id=self.request_id,
        ))
        self.emitted += 1
        return event_id

    def audit(self, action: str, resource: str, resource_id, before: dict | None,
              after: dict | None, note: str | None = None) -> None:
        self.session.execute(insert(audit_log).values(
            actor_id=self.caller.user_id, action=action, resource=resource,
            resource_id=str(resource_id), before=before, after=after,
            request_id=self.request_id, note=note,
        ))

    def claim_event(self, event_id: str, consumer: str) -> bool:
        """True the first time `consumer` sees `event_id`; the claim commits with the effects."""
        result = self.session.execute(_CLAIM, {"consumer": consumer, "event_id": event_id})
        return result.first() is not None

    def claim_events(self, event_ids: list[str], consumer: str) -> set[str]:
        """Of `event_ids` (canonical, see `canonical_event_id`), the ones `consumer` sees for
        the first time, claimed in one statement; the claims commit with the effects."""
        # Sorted: concurrent batches holding the same ids claim them in the same order
        # (no deadlock between them).
        unique = sorted(set(event_ids))
        if not unique:
            return set()
        return set(self.session.execute(_CLAIM_MANY, {"consumer": consumer,
                                                      "event_ids": unique}).scalars())

    def commit(self) -> None:
        if self._session is not None:
            self._session.commit()

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def canonical_event_id(event_id: str) -> str:
    """An event id spelled as PostgreSQL prints a uuid (lower case, hyphenated)."""
    return str(uuid.UUID(str(event_id)))


def unit_of_work_of(service) -> UnitOfWork:
    """The unit of work injected into a service instance (for decorators of its methods)."""
    for value in vars(service).values():
        if isinstance(value, UnitOfWork):
            return value
    raise RuntimeError(f"{type(service).__name__} has no Database dependency")


class Database(DependencyProvider):
    """Injects a `UnitOfWork`; owns the engine and this service's outbox relay."""

    def __init__(self, relay: bool = True):
        self.relay_enabled = relay
        self.engine: Engine | None = None
        self.relay = None
        self.units: WeakKeyDictionary = WeakKeyDictionary()

    def setup(self):
        settings = database_settings(self.container.service_name)
        self.engine = make_engine(settings)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.read_only_factory = read_only_sessions(self.engine)
        if self.relay_enabled:
            from crmkit.outbox import OutboxRelay  # noqa: PLC0415 (import cycle)
            self.relay = OutboxRelay(self.engine, self.container.service_name,
                                     bus_settings().amqp_uri, settings.outbox_poll_interval)

    def start(self):
        if self.relay is not None:
            self.container.spawn_managed_thread(self.relay.run, identifier="outbox_relay")

    def stop(self):
        if self.relay is not None:
            self.relay.stop()
        if self.engine is not None:
            self.engine.dispose()

    kill = stop

    def get_dependency(self, worker_ctx) -> UnitOfWork:
        read_only = getattr(worker_ctx.entrypoint, "read_only", False)
        unit = UnitOfWork(self.read_only_factory if read_only else self.session_factory,
                          dict(worker_ctx.data), self.container.service_name, read_only)
        self.units[worker_ctx] = unit
        return unit

    def finish_worker(self, worker_ctx, exc_info):
        """Commit (or roll back) before the entrypoint answers; returns the final exc_info."""
        unit = self.units.get(worker_ctx)
        if unit is None:
            return exc_info
        try:
            if exc_info is None:
                unit.commit()
                if unit.emitted and self.relay is not None:
                    self.relay.kick()
            else:
                unit.rollback()
        except Exception as exc:  # noqa: BLE001 (a failed commit becomes the reply)
            unit.rollback()
            exc_info = (type(exc), exc, exc.__traceback__)
        finally:
            unit.close()
        return exc_info

    def worker_teardown(self, worker_ctx):
        unit = self.units.pop(worker_ctx, None)
        if unit is not None:
            unit.close()
