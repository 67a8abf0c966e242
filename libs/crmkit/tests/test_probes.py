"""The HTTP probes a service process serves for Kubernetes, against the real database and
broker, and with the broker out of reach."""
import eventlet
import httpx

from crmkit.probes import Probes, serve_probes
from crmkit.testing import free_port, wait_until


def test_probes_report_liveness_and_real_readiness(migrated, monkeypatch):
    migrated("accounts")
    port = free_port()
    eventlet.spawn_n(serve_probes, "accounts", port)
    base = f"http://127.0.0.1:{port}"

    def answers():
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False
    assert wait_until(answers, timeout=10)
    ready = httpx.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "database": True, "broker": True}
    assert httpx.get(f"{base}/other", timeout=2).status_code == 404

    monkeypatch.setenv("CRM_AMQP_URI", f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    unreachable = Probes("accounts")
    assert unreachable.database_ok() and not unreachable.broker_ok()
