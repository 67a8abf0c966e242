"""HTTP probes for a service process (Kubernetes, load balancers): `/healthz` answers while
the process's event loop runs (liveness: a blocked hub does not answer), `/readyz` when
its database takes a query and the broker takes a connection (readiness). Served by
eventlet's WSGI server on `CRM_PROBE_PORT` when that is set; off by default."""
import json
import logging

import eventlet
from eventlet import wsgi
from kombu import Connection
from sqlalchemy import text

from crmkit.database import make_engine
from crmkit.settings import bus_settings, database_settings, env

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 2.0


def probe_port() -> int | None:
    return env.int("CRM_PROBE_PORT", None)


class Probes:
    def __init__(self, service: str):
        settings = database_settings(service)
        # Its own tiny pool: a probe must not wait behind busy workers for a connection.
        self.engine = make_engine(settings.__class__(
            url=settings.url, pool_size=1, max_overflow=0,
            outbox_poll_interval=settings.outbox_poll_interval))
        self.amqp_uri = bus_settings().amqp_uri

    def database_ok(self) -> bool:
        try:
            with eventlet.Timeout(CHECK_TIMEOUT_S), self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except (Exception, eventlet.Timeout):  # noqa: BLE001 (a probe reports, never raises)
            return False

    def broker_ok(self) -> bool:
        try:
            with Connection(self.amqp_uri, connect_timeout=CHECK_TIMEOUT_S) as conn:
                conn.ensure_connection(max_retries=1)
            return True
        except Exception:  # noqa: BLE001
            return False

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            status, body = "200 OK", {"status": "ok"}
        elif path == "/readyz":
            checks = {"database": self.database_ok(), "broker": self.broker_ok()}
            ready = all(checks.values())
            status = "200 OK" if ready else "503 Service Unavailable"
            body = {"status": "ready" if ready else "not ready", **checks}
        else:
            status, body = "404 Not Found", {"status": "not found"}
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(payload)))])
        return [payload]


def serve_probes(service: str, port: int) -> None:
    """Run in a green thread beside the service."""
    listener = eventlet.listen(("0.0.0.0", port))  # noqa: S104 (probes come from the kubelet)
    wsgi.server(listener, Probes(service), log_output=False)
