"""The connection pool (engine.db.session.create_engine) pings a connection only after it sat idle:
a connection whose server side went away while idle is replaced without the caller noticing, and
one that died moments after use fails one statement, after which the pool reconnects."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.db import session as db_session
from engine.settings import Settings


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(settings: Settings, pid: int) -> None:
    assert settings.database_url
    killer = db_session.create_engine(settings.database_url, pool_size=1)
    try:
        async with killer.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.dispose()


async def test_an_idle_connection_that_died_is_replaced_transparently(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.database_url
    engine = db_session.create_engine(settings.database_url, pool_size=1)
    try:
        first = await _backend_pid(engine)
        await _terminate(settings, first)
        monkeypatch.setattr(db_session, "PING_AFTER_IDLE_S", -1.0)  # the pooled one counts as idle
        second = await _backend_pid(engine)  # no error: the ping found it dead, the pool reconnected
        assert second != first
    finally:
        await engine.dispose()


async def test_a_connection_used_moments_ago_is_not_pinged_and_the_pool_recovers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.database_url
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE_S", 3600.0)
    engine = db_session.create_engine(settings.database_url, pool_size=1)
    try:
        first = await _backend_pid(engine)
        await _terminate(settings, first)
        with pytest.raises(DBAPIError) as failure:  # not pinged: this statement meets the dead backend
            await _backend_pid(engine)
        assert failure.value.connection_invalidated
        assert await _backend_pid(engine) != first  # the pool was invalidated and reconnected
    finally:
        await engine.dispose()
