"""Configuration read from environment variables, once per process.

Every variable the system understands is read through `env` here or in a service's own
settings module, so `env.dump()` lists exactly what a deployment may set. Required values
(secrets) have no default and fail fast at start.
"""
from dataclasses import dataclass

from environs import Env

env = Env()

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class BusSettings:
    amqp_uri: str
    rpc_timeout: float
    max_workers: int
    event_retry_delay_ms: int
    event_max_attempts: int
    # `classic` (local, one broker) or `quorum` (replicated across a cluster's nodes).
    queue_type: str = "classic"
    heartbeat_s: int = 60
    # Most events a `batch_event_handler` takes in one transaction, and how many such
    # transactions a process runs at once (one builds its batch while another waits on
    # the database).
    event_batch_max: int = 500
    event_batches_in_flight: int = 2
    # How long an event may keep failing on an outage before it is parked.
    event_outage_patience_s: float = 3600.0

    def nameko_config(self) -> dict:
        # max_workers is also each consumer's prefetch (nameko's QueueConsumer): a process
        # takes at most that many unacknowledged messages.
        return {
            "AMQP_URI": self.amqp_uri,
            "max_workers": self.max_workers,
            "parent_calls_tracked": 10,
            "HEARTBEAT": self.heartbeat_s,
        }

    def queue_arguments(self) -> dict:
        """Arguments of every durable queue the services declare for events."""
        return {"x-queue-type": "quorum"} if self.queue_type == "quorum" else {}


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    pool_size: int
    max_overflow: int
    outbox_poll_interval: float


@dataclass(frozen=True)
class TokenSettings:
    secret: str
    access_ttl: int
    refresh_ttl: int
    issuer: str = "crm"


@dataclass(frozen=True)
class ObjectStoreSettings:
    endpoint: str | None
    access_key: str
    secret_key: str
    secure: bool
    region: str


def bus_settings() -> BusSettings:
    return BusSettings(
        amqp_uri=env.str("CRM_AMQP_URI", DEFAULT_AMQP_URI),
        rpc_timeout=env.float("CRM_RPC_TIMEOUT", 10.0),
        # nameko's default of 10 workers caps a process at 10 calls in flight.
        max_workers=env.int("CRM_MAX_WORKERS", 64),
        event_retry_delay_ms=env.int("CRM_EVENT_RETRY_DELAY_MS", 2000),
        event_max_attempts=env.int("CRM_EVENT_MAX_ATTEMPTS", 5),
        queue_type=env.str("CRM_QUEUE_TYPE", "classic",
                           validate=lambda v: v in ("classic", "quorum")),
        heartbeat_s=env.int("CRM_AMQP_HEARTBEAT", 60),
        event_batch_max=env.int("CRM_EVENT_BATCH_MAX", 500),
        event_batches_in_flight=env.int("CRM_EVENT_BATCHES_IN_FLIGHT", 2,
                                        validate=lambda v: v >= 1),
        event_outage_patience_s=env.float("CRM_EVENT_OUTAGE_PATIENCE_S", 3600.0),
    )


def database_name(service: str) -> str:
    return f"{env.str('CRM_DB_PREFIX', 'crm')}_{service}"


def postgres_server_url() -> str:
    return env.str("CRM_POSTGRES_URL", DEFAULT_POSTGRES_URL).rstrip("/")


def database_settings(service: str) -> DatabaseSettings:
    return DatabaseSettings(
        url=f"{postgres_server_url()}/{database_name(service)}",
        # A fixed pool: a connection opened over the pool size is closed when it comes
        # back to a full pool, and under bursty load that happened every few requests (a
        # PostgreSQL backend start each time: bench/gateway.py). Workers beyond the pool
        # wait for a connection instead.
        pool_size=env.int("CRM_DB_POOL_SIZE", 20),
        max_overflow=env.int("CRM_DB_MAX_OVERFLOW", 0),
        outbox_poll_interval=env.float("CRM_OUTBOX_POLL_INTERVAL", 1.0),
    )


def token_settings() -> TokenSettings:
    secret = env.str("CRM_JWT_SECRET")
    if len(secret) < 32:
        raise ValueError("CRM_JWT_SECRET must be at least 32 characters")
    return TokenSettings(
        secret=secret,
        access_ttl=env.int("CRM_ACCESS_TOKEN_TTL", 900),
        refresh_ttl=env.int("CRM_REFRESH_TOKEN_TTL", 14 * 24 * 3600),
    )


def object_store_settings() -> ObjectStoreSettings:
    return ObjectStoreSettings(
        endpoint=env.str("MINIO_ENDPOINT", None),
        access_key=env.str("MINIO_ACCESS_KEY", "crm-local"),
        secret_key=env.str("MINIO_SECRET_KEY", "crm-local-secret"),
        secure=env.bool("MINIO_SECURE", False),
        region=env.str("MINIO_REGION", "us-east-1"),
    )


def log_level() -> str:
    return env.str("CRM_LOG_LEVEL", "INFO").upper()
