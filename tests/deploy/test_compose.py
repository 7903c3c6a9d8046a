"""docker-compose.yml: validated by the compose CLI where one is installed (it needs no Docker
daemon for `config`), and its invariants checked by reading it, so the production path cannot
quietly rot while Docker does not run on our machines."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
APP_SERVICES = ("migrate", "api", "worker")
LONG_RUNNING = ("postgres", "temporal", "temporal-ui", "api", "worker", "caddy")


def compose_cli() -> list[str] | None:
    """`docker compose` (v2 plugin) or `docker-compose` (Debian's package), whichever works."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def _config(cli: list[str], document: str, where: Path) -> subprocess.CompletedProcess[str]:
    """`config` on a copy of the project's deployment files with placeholder secret files, as an
    operator's checkout would have them (no .env, no variables from this machine)."""
    shutil.copytree(ROOT / "deploy", where / "deploy")
    (where / "secrets").mkdir()
    for name in yaml.safe_load(document)["secrets"]:
        (where / "secrets" / name).write_text("placeholder")
    (where / "docker-compose.yml").write_text(document)
    return subprocess.run(
        [*cli, "-f", "docker-compose.yml", "config", "-q"],
        capture_output=True,
        text=True,
        cwd=where,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(where)},
    )


@pytest.fixture
def cli() -> list[str]:
    """The compose CLI; `.ci/run` installs Debian's `docker-compose` so CI always has one."""
    found = compose_cli()
    if found is None:
        pytest.skip("no compose CLI here (install Debian's `docker-compose` or Docker's compose plugin)")
    return found


def test_the_compose_cli_accepts_the_file(cli: list[str], tmp_path: Path) -> None:
    result = _config(cli, COMPOSE.read_text(), tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_compose_cli_rejects_a_broken_file(cli: list[str], tmp_path: Path) -> None:
    """The check above can fail: a restart policy that is not one is refused."""
    broken = COMPOSE.read_text().replace("    restart: unless-stopped\n", "    restart: 7\n", 1)
    assert _config(cli, broken, tmp_path).returncode != 0


def test_every_image_is_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: {image} has no tag"
        if name in APP_SERVICES:
            assert image.startswith("covo-engine:"), name
            continue
        assert tag != "latest" and re.match(r"\d+\.\d+", tag), f"{name}: {image} is not a pinned release"


def test_temporal_is_set_up_in_three_steps_with_512_shards(services: dict[str, Any]) -> None:
    assert not any("auto-setup" in s["image"] for s in services.values())
    schema, server, namespace = services["temporal-schema"], services["temporal"], services["temporal-namespace"]
    assert schema["image"].startswith("temporalio/admin-tools:")
    assert server["image"].startswith("temporalio/server:")
    # admin-tools and server of the same release: the schema the job installs is the server's.
    assert schema["image"].split(":")[1].split("-")[0] == server["image"].split(":")[1]
    assert server["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    assert str(server["environment"]["NUM_HISTORY_SHARDS"]) == "512"
    dynamic = server["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    assert any(volume.endswith(f":{dynamic}:ro") for volume in server["volumes"])
    assert (ROOT / "deploy/temporal/dynamicconfig.yaml").exists()
    yaml.safe_load((ROOT / "deploy/temporal/dynamicconfig.yaml").read_text())
    assert namespace["environment"]["RETENTION"]
    script = (ROOT / "deploy/temporal/create-namespace.sh").read_text()
    assert '--retention "$RETENTION"' in script
    assert "tctl" not in script and "tctl" not in (ROOT / "deploy/temporal/setup-schema.sh").read_text()


def test_the_temporal_ui_listens_on_loopback_only_and_read_only(services: dict[str, Any]) -> None:
    ui = services["temporal-ui"]
    assert all(str(port).startswith("127.0.0.1:") for port in ui["ports"])
    assert ui["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    for name, service in services.items():
        for port in service.get("ports", []):
            published = str(port)
            if name != "caddy":
                assert published.startswith("127.0.0.1:"), f"{name} publishes {published} beyond loopback"
            assert not published.startswith("0.0.0.0")


def test_one_image_built_once(services: dict[str, Any]) -> None:
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["migrate"]
    assert len({services[name]["image"] for name in APP_SERVICES}) == 1


def test_migrations_and_seeding_only_in_the_one_shot_job(services: dict[str, Any]) -> None:
    assert "covo db upgrade" in " ".join(services["migrate"]["command"])
    assert "covo admin create" in " ".join(services["migrate"]["command"])
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        command = " ".join(services[name]["command"])
        assert "admin" not in command and "db upgrade" not in command, name
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_api_replicas_sit_behind_the_proxy_which_the_api_believes(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    api, caddy = services["api"], services["caddy"]
    assert "ports" not in api  # so --scale api=N works
    proxy_ip = caddy["networks"]["edge"]["ipv4_address"]
    assert api["environment"]["FORWARDED_ALLOW_IPS"] == proxy_ip
    assert {"443:443", "80:80"} <= {str(p) for p in caddy["ports"]}
    caddyfile = (ROOT / "deploy/Caddyfile").read_text()
    assert any(v.startswith("./deploy/Caddyfile:") for v in caddy["volumes"])
    assert "name api" in caddyfile and "port 8000" in caddyfile
    assert "respond /metrics 404" in caddyfile


def test_callapi_reaches_the_api_and_app_settings_are_complete(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["INTERNAL_API_URL"] == "http://api:8000", name
        assert env["COVO_ENV"] == "production"
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_secrets_are_files_not_environment(compose: dict[str, Any], services: dict[str, Any]) -> None:
    secret_like = re.compile(r"PASSWORD|SECRET|API_KEY", re.I)
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if secret_like.search(key):
                assert key.endswith("_FILE"), f"{name}: {key} in the environment"
            if key == "DATABASE_URL":
                credentials = str(value).split("://", 1)[1].partition("@")[0]
                assert ":" not in credentials, f"{name}: {key} carries a password"
    for name in APP_SERVICES:
        targets = {s if isinstance(s, str) else s.get("target", s["source"]) for s in services[name]["secrets"]}
        assert {"database_password", "jwt_secret"} <= targets, name
    assert all("file" in spec for spec in compose["secrets"].values())


def test_separate_database_roles(services: dict[str, Any]) -> None:
    users = {name: services[name]["environment"]["DATABASE_URL"].split("//")[1].split("@")[0] for name in APP_SERVICES}
    assert users["migrate"] == "covo_migrate"
    assert users["api"] == users["worker"] == "covo_app"
    assert services["temporal"]["environment"]["POSTGRES_USER"] == "temporal"
    init = (ROOT / "deploy/postgres-init.sh").read_text()
    for role in ("covo_migrate", "covo_app", "temporal"):
        assert f"CREATE ROLE {role} LOGIN" in init
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO covo_app" in init


def test_restart_policies_healthchecks_logs_and_init(services: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
        logging = services[name]["logging"]
        assert logging["driver"] == "json-file" and logging["options"]["max-size"], name
    for name in APP_SERVICES:
        assert services[name]["init"] is True, name
    assert "/api/health/live" in " ".join(services["api"]["healthcheck"]["test"])
    assert ":9464/metrics" in " ".join(services["worker"]["healthcheck"]["test"])
    assert services["worker"]["environment"]["WORKER_METRICS_ADDRESS"].endswith(":9464")
    # Above the worker's 25 s drain (workers/registry.py graceful_shutdown_timeout).
    assert int(services["worker"]["stop_grace_period"].rstrip("s")) > 25
