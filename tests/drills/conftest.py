"""Operational drills: process-level checks (kill the worker, ...). Each drill has a short form
that every `make test` runs and a long form that only `make drill` (COVO_DRILL=1) adds: the long
parameters are not generated at all otherwise (no skip noise)."""

from __future__ import annotations

import os

import pytest

DRILL_ENABLED = os.environ.get("COVO_DRILL") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "drill: operational drill (short form in make test, long form with COVO_DRILL=1)"
    )
