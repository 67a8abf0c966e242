"""Docker does not run here, so the compose file is kept honest by reading it: it is valid
against the Compose specification's schema, every service and the gateway have an entry,
and every CRM/MinIO variable it sets is one the settings modules really read."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


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


def test_compose_sets_only_variables_the_code_reads(variables_read):
    read = variables_read
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


def test_compose_file_follows_the_compose_specification():
    import json
    from importlib.resources import files

    import jsonschema
    schema = json.loads(files("check_jsonschema.builtin_schemas.vendor")
                        .joinpath("compose-spec.json").read_text())
    jsonschema.validate(compose(), schema)
