"""Operational drills: slow, process-level checks (kill the worker, ...) that `make drill` runs.

They are left out of the default `make test`: unless COVO_DRILL=1, this directory's test modules
are not collected at all (no skip noise)."""

from __future__ import annotations

import os

import pytest

DRILL_ENABLED = os.environ.get("COVO_DRILL") == "1"

if not DRILL_ENABLED:
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "drill: operational drill, run by `make drill` (COVO_DRILL=1)")
