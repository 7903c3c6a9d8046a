"""No password, token or API key in any log line or any later answer, checked over the whole suite's
own run: every log record (root logger, INFO and up, as in production) is kept, every credential
the API hands out is remembered (from the answers of the test client), and at the end of the run
each record and answer is searched for the test password, an Argon2 hash, or a credential. A hit
fails the run (exit status 1) and names where it was.

Wired in by tests/conftest.py (`install` at configure, `report` at session finish, and `HOOKS` on
the test client)."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from typing import Any

import httpx
import pytest

PASSWORD_MARKERS = {"correct-horse-battery", "another-secret-1", "$argon2"}
CREDENTIAL_KEYS = {"token", "refreshToken", "accessToken", "secret"}

issued: set[str] = set()
records: list[str] = []
leaks: list[str] = []


class _Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        # a record that cannot be formatted is not ours to judge
        with contextlib.suppress(Exception):
            records.append(f"{record.name}: {self.format(record)}")


def _credentials(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in CREDENTIAL_KEYS and isinstance(item, str) and len(item) >= 16:
                found.add(item)
            found |= _credentials(item)
    elif isinstance(value, list):
        for item in value:
            found |= _credentials(item)
    return found


# Credentials are JWTs and URL-safe random strings: any of them in a text is one of these words.
_WORDS = re.compile(r"[A-Za-z0-9_\-.]{16,}")


def _hits(text: str) -> list[str]:
    hits = [marker for marker in PASSWORD_MARKERS if marker in text]
    candidates = set(_WORDS.findall(text))
    found = {secret for secret in candidates if secret in issued}
    # a credential glued to neighbouring characters (`token=...`) is found by its own length
    found |= {secret for word in candidates - found for secret in _secrets_in(word)}
    return hits + [secret[:8] + "…" for secret in found]


def _secrets_in(word: str) -> set[str]:
    return {secret for secret in issued if len(secret) < len(word) and secret in word} if len(word) > 40 else set()


async def _on_response(response: httpx.Response) -> None:
    await response.aread()
    text = response.text
    hits = _hits(text)
    if hits:
        leaks.append(f"answer to {response.request.method} {response.request.url.path}: {hits}")
    if response.headers.get("content-type", "").startswith("application/json"):
        with contextlib.suppress(ValueError):
            issued.update(_credentials(json.loads(text)))


HOOKS: dict[str, list[Any]] = {"response": [_on_response]}


def install() -> None:
    handler = _Keep(level=logging.INFO)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def report(session: pytest.Session) -> None:
    for line in records:
        hits = _hits(line)
        if hits:
            leaks.append(f"log line {line[:200]!r}: {hits}")
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("SECRETS LEAKED (tests/secrets_scan.py):", red=True)
            for leak in leaks[:50]:
                reporter.write_line(f"  {leak}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
