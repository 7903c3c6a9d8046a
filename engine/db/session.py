"""Engine and session factories. Built by the process that owns them (API lifespan, worker start),
never at import time."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import greenlet_spawn

from engine.db import guards  # noqa: F401  (column limits checked before every flush)
from engine.errors import Conflict


def to_async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (as libpq tools and pgserver print them) and use asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def to_sync_url(url: str) -> str:
    return "postgresql+psycopg://" + to_async_url(url)[len("postgresql+asyncpg://") :]


# A pooled connection idle for longer than this is pinged before use. SQLAlchemy's `pool_pre_ping`
# pings on every checkout: one extra round trip per request (~8% of the API's time in the rules
# benchmark's profile). A connection used moments ago is alive or, if Postgres just went away, fails
# its statement; SQLAlchemy then invalidates the whole pool, so the next checkout reconnects.
PING_AFTER_IDLE_S = 2.0


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(to_async_url(url), pool_size=pool_size, max_overflow=pool_size)
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_LAST_USED, 0.0) <= PING_AFTER_IDLE_S:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception:
            alive = False
        if not alive:
            raise DisconnectionError("pooled connection failed its ping")  # the pool reconnects

    @event.listens_for(engine.sync_engine.pool, "connect")
    @event.listens_for(engine.sync_engine.pool, "checkin")
    def mark_used(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_LAST_USED] = time.monotonic()

    return engine


_LAST_USED = "covo.last_used"


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def flush_unique(session: AsyncSession, message: str) -> None:
    """Flushes pending changes; a unique-constraint violation becomes a 409 `message` and rolls
    back only this flush (a savepoint), so the caller's transaction stays usable."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(message)


# ---------------------------------------------------------------- the unit of work

log = logging.getLogger("covo.db")
_AFTER_COMMIT = "covo.after_commit"
AfterCommit = Callable[[], Awaitable[None]]


def after_commit(session: AsyncSession, work: AfterCommit) -> None:
    """Registers `work` to run once `session`'s transaction has committed: handing outbox rows or
    domain events to Temporal, starting webhook deliveries. Dropped when the transaction rolls
    back. Services register; whoever owns the transaction (the request's session dependency, an
    activity's `unit_of_work`) commits and then runs the work. A failing `work` is logged, never
    raised: the commit stands and the outbox sweeper / event retries pick the row up later."""
    session.info.setdefault(_AFTER_COMMIT, []).append(work)


def discard_after_commit(session: AsyncSession) -> None:
    session.info.pop(_AFTER_COMMIT, None)


async def commit(session: AsyncSession) -> None:
    """Commits, then runs the work registered with `after_commit`, in registration order. A
    session that never began a transaction (nothing executed, nothing added: SQLAlchemy begins
    one on either) has nothing to commit."""
    if session.in_transaction():
        await session.commit()
    pending: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    for work in pending:
        try:
            await work()
        except Exception:
            log.exception("after-commit work %r failed", work)


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction outside a request (activities, CLI): commits and runs the after-commit
    work when the block ends normally; rolls back and drops it when the block raises."""
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            discard_after_commit(session)
            await session.rollback()
            raise
        await commit(session)


async def fetch_alone(engine: AsyncEngine, sql: str, *params: Any) -> list[Any]:
    """Runs one statement by itself (autocommit: atomic on its own, committed when this returns)
    on a pooled connection, straight through asyncpg (`$n` parameters): no BEGIN and COMMIT round
    trips, none of SQLAlchemy's per-statement work. For a hot path whose only write is this one
    statement (engine.rules.execution.insert_logs_alone). Errors come back as SQLAlchemy's
    `DBAPIError`, as from a session, so api/errors.py answers them the same way."""
    pooled = await engine.raw_connection()
    try:
        driver = pooled.driver_connection  # no transaction was begun on it: autocommit
        assert driver is not None
        return list(await driver.fetch(sql, *params))
    except asyncpg.PostgresError as exc:  # the statement failed, the connection is fine
        raise DBAPIError(sql, None, exc) from exc
    except (asyncpg.InterfaceError, OSError) as exc:
        await greenlet_spawn(pooled.invalidate)
        raise DBAPIError(sql, None, exc, connection_invalidated=True) from exc
    except BaseException:  # cancelled mid-statement: the connection is never handed out again
        await greenlet_spawn(pooled.invalidate)
        raise
    finally:
        await greenlet_spawn(pooled.close)  # back to the pool (its reset may talk to the database)
