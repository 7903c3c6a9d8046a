"""Engine and session factories. Built by the process that owns them (API lifespan, worker start),
never at import time."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


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
