"""The Kubernetes manifests (deploy/k8s) are checked here since no cluster runs here: each
resource is valid against the Kubernetes API schemas (kubernetes-validate, strict: unknown
fields fail), every process has a Deployment with real probes and resource requests, the
autoscalers and budgets point at Deployments that exist, and the settings they carry are
ones the code reads."""
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"
# (deployment, the command's module): every service, the gRPC server and the gateway.
PROCESSES = {**{p.name.replace("_", "-"): p.name for p in (ROOT / "services").iterdir()
                if (p / p.name).is_dir()},
             "service-tickets-grpc": "service_tickets.grpc_server", "gateway": "gateway"}


def resources(directory: Path = K8S) -> list[dict]:
    found = []
    for path in sorted(directory.rglob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def of_kind(kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources() if r["kind"] == kind}


@pytest.mark.parametrize("resource", resources(), ids=lambda r: f"{r['kind']}/"
                         f"{r['metadata']['name']}")
def test_every_resource_is_valid_for_kubernetes(resource):
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_a_validator_that_would_catch_a_mistake():
    broken = dict(of_kind("Deployment")["gateway"])
    broken["spec"] = dict(broken["spec"], replicas="two")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_process_runs_with_probes_and_requests():
    deployments = of_kind("Deployment")
    assert set(PROCESSES) <= set(deployments), set(PROCESSES) - set(deployments)
    for name, module in PROCESSES.items():
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", module]
        for probe in ("readinessProbe", "livenessProbe"):
            assert probe in container, f"{name} has no {probe}"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert container["securityContext"]["runAsNonRoot"] is True


def test_autoscalers_and_budgets_point_at_deployments():
    deployments = of_kind("Deployment")
    autoscalers = of_kind("HorizontalPodAutoscaler")
    # Every process scales: an event consumer without one falls behind silently.
    assert set(PROCESSES) <= set(autoscalers), set(PROCESSES) - set(autoscalers)
    for hpa in autoscalers.values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    for budget in of_kind("PodDisruptionBudget").values():
        wanted = budget["spec"]["selector"]["matchLabels"]
        assert any(wanted.items() <= d["spec"]["template"]["metadata"]["labels"].items()
                   for d in deployments.values()), budget["metadata"]["name"]


def test_settings_are_ones_the_code_reads(variables_read):
    config = of_kind("ConfigMap")["crm-config"]["data"]
    secret = of_kind("Secret")["crm-secrets"]["stringData"]
    for name in {**config, **secret}:
        if re.match(r"^(CRM|MINIO)_", name):
            assert name in variables_read, f"{name} is not read by the code"
    assert {"CRM_JWT_SECRET", "CRM_POSTGRES_URL", "CRM_AMQP_URI"} <= set(secret)
    assert not {"CRM_JWT_SECRET", "CRM_POSTGRES_URL"} & set(config), "secrets in a ConfigMap"


def test_the_migration_job_runs_the_migrations():
    job = of_kind("Job")["crm-migrate"]
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[-2:] == ["deploy/local_stack.py", "--migrate-only"]
    assert (ROOT / command[-2]).exists()
