"""Schemathesis over the whole OpenAPI document, against the real API (uvicorn, real Postgres and
Temporal): no 500s, every status code documented, every body matching its documented schema.

`make test` runs a bounded pass (fixed seed, few examples per operation) as a super admin;
`make fuzz` sets COVO_FUZZ_EXAMPLES higher and also runs as a plain employee of another tenant.

Excluded operations, each with its reason (everything else is fuzzed):
- `POST /api/auth/logout`, `GET /api/auth/logout`: they revoke the very session the run
  authenticates with, so every later request would be a 401 (their behaviour is tested in
  tests/auth/test_login.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import MakeAccount

EXCLUDED = {
    "POST /api/auth/logout": "revokes the run's own session",
    "GET /api/auth/logout": "revokes the run's own session",
}
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
EXAMPLES = int(os.environ.get("COVO_FUZZ_EXAMPLES", "3"))
SEED = int(os.environ.get("COVO_FUZZ_SEED", "20261205"))
ROLES = {"superadmin": ("superadmin", "admin"), "employee": ("employee",)}
AS = [r for r in os.environ.get("COVO_FUZZ_AS", "superadmin").split(",") if r]


def _st() -> str:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is a dev dependency (make install)"
    return found


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("who", AS)
async def test_schemathesis_finds_nothing(
    api_server: str, make_account: MakeAccount, who: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    account = await make_account(*ROLES[who])
    command = [
        _st(),
        "run",
        f"{api_server}/api/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: with threads, CPython 3.11's ast module (which Hypothesis uses to describe
        # strategies) sometimes fails with "AST constructor recursion depth mismatch".
        "--workers",
        "1",
        "--no-shrink",
        "--suppress-health-check",
        "all",
        "--header",
        f"Authorization: Bearer {account.token}",
        "--request-timeout",
        "30",
        "--output-truncate",
        "true",
        "--warnings",
        "off",
    ]
    for path in sorted({operation.split(" ", 1)[1] for operation in EXCLUDED}):
        command += ["--exclude-path", path]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    with capsys.disabled():
        summary = text[text.rfind("=" * 20, 0, max(text.rfind("SUMMARY"), 0)) :] if "SUMMARY" in text else text
        print(f"\nschemathesis as {who} ({EXAMPLES} examples per operation, seed {SEED}):\n{summary[-3000:]}")
    assert process.returncode == 0, text[-20000:]
