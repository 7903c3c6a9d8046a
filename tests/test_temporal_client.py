"""Connecting to Temporal waits out a server that is still starting, within a bound."""

from __future__ import annotations

import time

import pytest

from engine.devstack import free_port
from engine.temporal.client import connect


async def test_connect_gives_up_after_its_patience_when_nothing_listens() -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError):
        await connect(f"127.0.0.1:{free_port()}", patience=0.5)
    assert time.monotonic() - started >= 0.5
