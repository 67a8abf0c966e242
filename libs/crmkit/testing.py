"""Fixtures for service-level tests: migrated per-run databases and running nameko
containers on the per-run vhost, and a poll helper. Loaded as a pytest plugin."""
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ServiceRpcProxy

from crmkit.context import Caller
from crmkit.migrations import upgrade
from crmkit.settings import bus_settings

# The bootstrap admin (user 1 in the HQ unit 1) as RPC tests call with it.
ADMIN = Caller(user_id=1, roles=frozenset({"admin"}), org_unit_id=1, org_path="/1/")


def unique(prefix: str) -> str:
    """A name no other test (or earlier run) has used."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def nameko_config():
    return bus_settings().nameko_config()


@pytest.fixture(scope="session")
def migrated():
    """`migrated("accounts")` upgrades that service's database, once per run."""
    done = set()

    def migrate(service: str):
        if service not in done:
            upgrade(service)
            done.add(service)
    return migrate


@pytest.fixture
def start_service(nameko_config):
    containers = []

    def start(service_cls):
        container = ServiceContainer(service_cls, nameko_config)
        container.start()
        containers.append(container)
        return container
    yield start
    for container in containers:
        container.stop()


@pytest.fixture
def rpc_as(nameko_config):
    """`rpc_as(caller, "accounts")` -> a proxy that calls as that caller."""
    proxies = []

    def make(caller: Caller | None, service: str, **extra_context):
        context = dict(caller.to_context_data()) if caller else {}
        context.update(extra_context)
        context = {k: v for k, v in context.items() if v is not None}
        proxy = ServiceRpcProxy(service, nameko_config, context_data=context, timeout=15)
        proxies.append(proxy)
        return proxy.start()
    yield make
    for proxy in proxies:
        proxy.stop()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.1) -> bool:
    """Poll `predicate` until it is true or `timeout` passes (for effects that travel
    through the bus asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class EventTap:
    """An exclusive queue bound to a service's event exchange: what a consumer would see."""

    def __init__(self, connection: Connection, service: str, event_types):
        exchange = Exchange(f"{service}.events", type="topic", durable=True)
        self.channel = connection.channel()
        self.queue = Queue(f"tap-{uuid.uuid4().hex[:8]}", exchange=exchange,
                           exclusive=True)(self.channel)
        exchange(self.channel).declare()
        self.queue.declare()
        for event_type in event_types:
            self.queue.bind_to(exchange=exchange, routing_key=event_type)
        self.seen: list[dict] = []

    def drain(self) -> list[dict]:
        while (message := self.queue.get(no_ack=True)) is not None:
            self.seen.append(message.decode())
        return self.seen

    def wait_for(self, predicate, timeout: float = 10.0) -> dict | None:
        """The first event (envelope) matching `predicate`, waiting up to `timeout`."""
        found: list = []

        def check():
            found[:] = [e for e in self.drain() if predicate(e)]
            return bool(found)
        wait_until(check, timeout)
        return found[0] if found else None


@pytest.fixture
def event_tap():
    """`event_tap("channels", "store_created", ...)` -> an `EventTap` listening from now."""
    connection = Connection(bus_settings().amqp_uri)

    def make(service: str, *event_types):
        return EventTap(connection, service, event_types)
    yield make
    connection.release()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepting(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def object_store():
    """An S3 endpoint for the run: `MINIO_ENDPOINT` when set, else moto's server on a free
    port (the same server the local stack uses). Sets the MINIO_* environment."""
    if os.environ.get("MINIO_ENDPOINT"):
        yield os.environ["MINIO_ENDPOINT"]
        return
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")),
                               "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_until(lambda: _accepting(port), timeout=30):
            raise RuntimeError("moto_server did not start")
        os.environ.update(MINIO_ENDPOINT=f"127.0.0.1:{port}", MINIO_SECURE="false")
        yield os.environ["MINIO_ENDPOINT"]
    finally:
        os.environ.pop("MINIO_ENDPOINT", None)
        server.terminate()
        server.wait(10)
