from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import Account, Stack
from tests.workflows.conftest import DEFINITIONS

COVO = str(Path(sys.executable).parent / "covo")


def covo(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DATABASE_URL": stack.database_url}
    return subprocess.run([COVO, *args], env=env, capture_output=True, text=True, timeout=120)


def test_validate_prints_every_problem_with_its_path_and_fails(tmp_path: Path, stack: Stack) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"workflowId": "x", "workflowName": "X", "definition": {"steps": [], "transitions": []}}))
    result = covo(stack, "definitions", "validate", str(DEFINITIONS), str(bad))
    assert result.returncode == 1
    assert "ok       " + str(DEFINITIONS / "checkout.json") in result.stdout
    assert "definition.steps: [MISSING_START_STEP]" in result.stdout
    assert "definition.transitions: [NO_TRANSITIONS]" in result.stdout


def test_apply_creates_versions_only_when_content_changed(tmp_path: Path, stack: Stack, admin: Account) -> None:
    folder = tmp_path / "workflows"
    shutil.copytree(DEFINITIONS, folder)
    tenant = str(admin.tenant_id)

    first = covo(stack, "definitions", "apply", str(folder), "--tenant", tenant)
    assert first.returncode == 0, first.stderr
    assert "created    checkout-flow v1" in first.stdout
    assert first.stdout.count("created") == len(list(folder.glob("*.json")))

    again = covo(stack, "definitions", "apply", str(folder), "--tenant", tenant)
    assert again.stdout.count("unchanged") == len(list(folder.glob("*.json")))

    checkout = folder / "checkout.json"
    document = json.loads(checkout.read_text())
    document["description"] = "Changed on disk"
    checkout.write_text(json.dumps(document))
    changed = covo(stack, "definitions", "apply", str(folder), "--tenant", tenant)
    assert "created    checkout-flow v2" in changed.stdout
    assert changed.stdout.count("created") == 1
