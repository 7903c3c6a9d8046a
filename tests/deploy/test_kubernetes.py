"""deploy/k8s: every manifest validated offline against the Kubernetes OpenAPI schemas that
`kubernetes-validate` ships (strict: unknown fields are errors), and the properties the
deployment relies on checked by reading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy/k8s").glob("*.yaml"))
KUBERNETES = "1.31.0"
DRAIN_SECONDS = 25  # workers/registry.py graceful_shutdown_timeout


def documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        if document:
            kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_validator_catches_a_wrong_field() -> None:
    deployment = by_kind("Deployment", "covo-api")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["prot"] = 8000
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_api_probes_hpa_and_service() -> None:
    pod = by_kind("Deployment", "covo-api")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/health/ready"
    hpa = by_kind("HorizontalPodAutoscaler", "covo-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "covo-api" and hpa["spec"]["minReplicas"] >= 2
    service = by_kind("Service", "covo-api")
    assert service["spec"]["selector"] == by_kind("Deployment", "covo-api")["spec"]["selector"]["matchLabels"]


def test_worker_grace_period_is_above_its_drain_time() -> None:
    pod = by_kind("Deployment", "covo-worker")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > DRAIN_SECONDS
    container = pod["containers"][0]
    assert container["command"] == ["covo", "worker"]
    assert {"name": "WORKER_METRICS_ADDRESS", "value": "0.0.0.0:9464"} in container["env"]


def test_migrations_run_as_a_job_and_nowhere_else() -> None:
    job = by_kind("Job", "covo-migrate")
    command = " ".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
    assert "covo db upgrade" in command and "covo admin create" in command
    for name in ("covo-api", "covo-worker"):
        command = " ".join(by_kind("Deployment", name)["spec"]["template"]["spec"]["containers"][0]["command"])
        assert "db upgrade" not in command and "admin" not in command


def test_secrets_are_mounted_files_and_the_url_has_no_password() -> None:
    config = by_kind("ConfigMap", "covo-config")["data"]
    assert ":" not in config["DATABASE_URL"].split("://")[1].split("@")[0]
    assert not any(key.endswith(("PASSWORD", "SECRET", "API_KEY")) for key in config)
    for kind, name in (("Deployment", "covo-api"), ("Deployment", "covo-worker"), ("Job", "covo-migrate")):
        pod = by_kind(kind, name)["spec"]["template"]["spec"]
        mounts = pod["containers"][0]["volumeMounts"]
        assert {"name": "secrets", "mountPath": "/run/secrets", "readOnly": True} in mounts, name
        # /var/run is /run: the service-account token would be mounted inside the secrets.
        assert pod["automountServiceAccountToken"] is False, name
    images = {
        by_kind(kind, name)["spec"]["template"]["spec"]["containers"][0]["image"]
        for kind, name in (("Deployment", "covo-api"), ("Deployment", "covo-worker"), ("Job", "covo-migrate"))
    }
    assert len(images) == 1
