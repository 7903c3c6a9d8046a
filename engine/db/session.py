"""Engine and session factories. Built by the process that owns them (API lifespan, worker start),
never at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from engine.errors import Conflict


def to_async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (as libpq tools and pgserver print them) and use asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def to_sync_url(url: str) -> str:
    return "postgresql+psycopg://" + to_async_url(url)[len("postgresql+asyncpg://") :]


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(to_async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


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
    """Commits, then runs the work registered with `after_commit`, in registration order."""
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
