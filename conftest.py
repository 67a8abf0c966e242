"""Test-run isolation shared by every level: one RabbitMQ vhost and one set of databases
(`crmtest_<id>_<service>`) per run, created before any service module reads its settings
and removed afterwards."""
import eventlet

# nameko's containers and standalone proxies need cooperative sockets (nameko 2.14's
# pytest plugin no longer patches).
eventlet.monkey_patch()

import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402

pytest_plugins = ["crmkit.testing"]

RUN_ID = uuid.uuid4().hex[:8]
VHOST = f"crmtest_{RUN_ID}"
DB_PREFIX = f"crmtest_{RUN_ID}"


def _rabbitmqctl(*args) -> bool:
    if not shutil.which("rabbitmqctl"):
        return False
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True).returncode == 0


def pytest_configure(config):
    os.environ["CRM_DB_PREFIX"] = DB_PREFIX
    base = os.environ.get("CRM_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")
    if _rabbitmqctl("add_vhost", VHOST) and _rabbitmqctl(
            "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"):
        os.environ["CRM_AMQP_URI"] = f"{base}/{VHOST}"
    else:
        os.environ["CRM_AMQP_URI"] = f"{base}/"
    os.environ.setdefault("CRM_JWT_SECRET", "test-secret-" + "x" * 40)
    os.environ.setdefault("CRM_BOOTSTRAP_ADMIN_PASSWORD", "admin-test-password")
    os.environ["CRM_EVENT_RETRY_DELAY_MS"] = "200"
    os.environ["CRM_EVENT_MAX_ATTEMPTS"] = "3"
    os.environ["CRM_OUTBOX_POLL_INTERVAL"] = "0.2"
    os.environ["CRM_SCHEDULER_TICK_S"] = "0.3"
    os.environ["CRM_TICKET_SLA_SWEEP_S"] = "0.3"
    # Outbound notices go to a local SMTP server and HTTP receiver that the outbound tests
    # start on these ports; quick retries so a failing receiver is retried within a test.
    from crmkit.testing import free_port
    os.environ["CRM_SMTP_HOST"] = "127.0.0.1"
    os.environ["CRM_SMTP_PORT"] = str(free_port())
    os.environ["CRM_SMS_URL"] = f"http://127.0.0.1:{free_port()}/sms"
    os.environ["CRM_WEBHOOK_ALLOW_PRIVATE"] = "true"
    os.environ["CRM_DELIVERY_RETRY_BASE_S"] = "0.2"
    os.environ["CRM_DELIVERY_MAX_ATTEMPTS"] = "4"
    os.environ["CRM_DELIVERY_TIMEOUT_S"] = "2"
    os.environ.setdefault("CRM_LOG_LEVEL", "WARNING")
    # Several stacks and service containers live in one run against one PostgreSQL
    # (max_connections 100): each process keeps at most 4 idle connections, 10 at a peak.
    os.environ.setdefault("CRM_DB_POOL_SIZE", "4")
    os.environ.setdefault("CRM_DB_MAX_OVERFLOW", "6")
    os.environ.setdefault("CRM_GRPC_MAX_WORKERS", "8")  # within those 10
    try:
        from psycogreen.eventlet import patch_psycopg
        patch_psycopg()
    except ImportError:
        pass


def pytest_unconfigure(config):
    try:
        from sqlalchemy import create_engine, pool, text

        from crmkit.settings import postgres_server_url
        engine = create_engine(f"{postgres_server_url()}/postgres",
                               isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
        with engine.connect() as conn:
            names = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                 {"p": f"{DB_PREFIX}_%"}).scalars().all()
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 (cleanup must not hide the test result)
        print(f"cleanup of test databases failed: {exc}")
    _rabbitmqctl("delete_vhost", VHOST)
