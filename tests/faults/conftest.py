"""The fault tests' own stack: every service once (a crash of the only process is the hard
case), on a RabbitMQ node of its own with quorum queues (the production setting), its own
databases and its own S3 server, so killing any of them touches nothing else."""
import os
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import private_broker  # noqa: E402
from local_stack import Stack, free_port  # noqa: E402


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="package")
def broker(tmp_path_factory):
    if not private_broker.available():
        pytest.skip("rabbitmq-server is not installed on this machine")
    node = private_broker.PrivateBroker(tmp_path_factory.mktemp("rabbitmq"))
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="package")
def fault_stack(broker, tmp_path_factory):
    env = dict(os.environ)
    env.update({
        "CRM_AMQP_URI": broker.amqp_uri,
        "CRM_QUEUE_TYPE": "quorum",
        "CRM_DB_PREFIX": f"{os.environ['CRM_DB_PREFIX']}_f",
        # Callers give up on a dead service quickly; the client retries.
        "CRM_RPC_TIMEOUT": "4",
        "CRM_AMQP_HEARTBEAT": "5",
    })
    env.pop("MINIO_ENDPOINT", None)
    with Stack(env=env, log_dir=tmp_path_factory.mktemp("fault-stack-logs"),
               gateway_port=free_port(), replicas=1).running() as stack:
        yield stack


@pytest.fixture(scope="package")
def fault_api(fault_stack):
    with httpx.Client(base_url=f"{fault_stack.url}/api/v1", timeout=30) as client:
        yield client
