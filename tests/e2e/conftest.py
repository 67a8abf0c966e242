"""The whole local stack, started once per test session and driven over HTTP: two
replicas of every service (CRM_TEST_REPLICAS), so every end-to-end flow also proves that
replicas share queues, timers and outbox rows without doing anything twice."""
import os
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy"))
from local_stack import Stack, free_port  # noqa: E402


# Package scope: the stack stops when the last end-to-end test is done, before the fault
# tests start a stack of their own (two idle stacks would hold PostgreSQL connections).
@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    # INFO, as production runs: the access log and every handled event are written, and
    # test_secrets_e2e reads them all for leaked secrets.
    env = dict(os.environ, CRM_LOG_LEVEL="INFO")
    with Stack(env=env, log_dir=tmp_path_factory.mktemp("stack-logs"),
               gateway_port=free_port(),
               replicas=int(os.environ.get("CRM_TEST_REPLICAS", "2"))).running() as stack:
        yield stack


@pytest.fixture(scope="package")
def api(stack):
    with httpx.Client(base_url=f"{stack.url}/api/v1", timeout=20) as client:
        yield client


def _login(api, username, password) -> dict:
    reply = api.post("/auth/token", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.fixture(scope="package")
def admin(api):
    token = _login(api, "admin", os.environ["CRM_BOOTSTRAP_ADMIN_PASSWORD"])["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="package")
def login(api):
    """`login(username, password)` -> Authorization headers for that user."""
    def headers_for(username: str, password: str) -> dict:
        return {"Authorization": f"Bearer {_login(api, username, password)['access_token']}"}
    return headers_for


def pytest_collection_modifyitems(config, items):
    """Fuzzing runs after every other end-to-end test (it changes shared state at random),
    and the scan of the logs for secrets after that (it reads what the stack wrote). Only
    this directory's tests move, among their own places, so the stack (package-scoped)
    starts once and is gone before any other stack starts."""
    here = Path(__file__).parent
    places = [i for i, item in enumerate(items) if here in Path(item.fspath).parents]
    ordered = sorted((items[i] for i in places), key=lambda item: (
        item.get_closest_marker("scans_logs") is not None,
        item.get_closest_marker("fuzz") is not None))
    for i, item in zip(places, ordered, strict=True):
        items[i] = item
