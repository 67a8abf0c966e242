"""Docker does not run here, so the compose file is kept honest by reading it: every service
and the gateway have an entry, and every CRM/MinIO variable it sets is one the settings
modules really read."""
import importlib
import re
from pathlib import Path

import yaml

from crmkit import settings as kit_settings

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def variables_read() -> set[str]:
    """Load every settings function of every process and collect what environs parsed."""
    for name in ("accounts.settings", "gateway.settings"):
        importlib.import_module(name).load()
    kit_settings.database_settings("accounts")
    kit_settings.object_store_settings()
    kit_settings.log_level()
    importlib.import_module("accounts.settings").bootstrap_admin_password()
    importlib.import_module("visits.storage").photo_bucket()
    importlib.import_module("service_tickets.grpc_server").grpc_settings()
    return set(kit_settings.env.dump())


def test_every_service_and_the_gateway_have_an_entry():
    services = compose()["services"]
    on_disk = {p.name for p in (ROOT / "services").iterdir() if (p / p.name).is_dir()}
    assert on_disk <= set(services), on_disk - set(services)
    assert "gateway" in services
    for name in on_disk | {"gateway"}:
        assert services[name]["command"][-1] == name
    grpc = services["service_tickets_grpc"]
    assert grpc["command"][-1] == "service_tickets.grpc_server"
    assert {"postgres", "rabbitmq", "minio"} <= set(services)
    assert "management" in services["rabbitmq"]["image"]


def test_compose_sets_only_variables_the_code_reads():
    read = variables_read()
    for name, service in compose()["services"].items():
        if "build" not in service:
            continue  # third-party images (postgres, rabbitmq, minio) read their own
        env = service.get("environment") or {}
        ours = {k for k in env if re.match(r"^(CRM|MINIO)_", k)}
        assert ours <= read, f"{name} sets unknown variables {sorted(ours - read)}"


def test_the_image_builds_from_files_that_exist():
    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+)", dockerfile, re.M):
        assert (ROOT / source).exists(), source
