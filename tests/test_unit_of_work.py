"""The after-commit mechanism (engine.db.session): work registered during a transaction runs only
after it committed (and sees the committed rows), in order; a rollback drops it; a failing piece
of work is logged and neither undoes the commit nor stops the rest."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import Tenant
from engine.db.session import after_commit, unit_of_work


async def test_work_runs_after_the_commit_and_sees_its_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tenant_id = uuid.uuid4()
    seen: list[object] = []

    async def look() -> None:
        async with sessionmaker() as other:  # another connection: only committed rows are visible
            seen.append(await other.get(Tenant, tenant_id))

    async def fail() -> None:
        raise RuntimeError("Temporal is down")

    async with unit_of_work(sessionmaker) as session:
        session.add(Tenant(id=tenant_id, name="after-commit"))
        after_commit(session, fail)
        after_commit(session, look)
        await session.flush()
        assert seen == []  # nothing runs before the commit
    assert len(seen) == 1 and isinstance(seen[0], Tenant)


async def test_a_rollback_drops_the_work_and_the_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    tenant_id = uuid.uuid4()
    ran: list[str] = []

    async def work() -> None:
        ran.append("ran")

    with pytest.raises(ValueError):
        async with unit_of_work(sessionmaker) as session:
            session.add(Tenant(id=tenant_id, name="rolled-back"))
            after_commit(session, work)
            await session.flush()
            raise ValueError("refused")
    assert ran == []
    async with sessionmaker() as session:
        assert await session.get(Tenant, tenant_id) is None
