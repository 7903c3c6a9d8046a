"""Engine and session factories. Built by the process that owns them (API lifespan, worker start),
never at import time."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

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
