"""Small helpers shared by the behaviour tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from engine.db.models import Base
from engine.invalidation import Caches
from engine.settings import Settings
from tests.conftest import Account


def anonymous(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The session client keeps the cookies of the last login (`auth_token`); a request meant to
    carry no credentials must not send them."""
    client.cookies.clear()
    return client


async def role_id(client: httpx.AsyncClient, account: Account, name: str) -> str:
    response = await client.get("/api/auth/roles", params={"search": name}, headers=account.headers)
    assert response.status_code == 200, response.text
    matches = [r["id"] for r in response.json()["items"] if r["name"] == name]
    assert len(matches) == 1, response.json()
    return str(matches[0])


async def create_user(client: httpx.AsyncClient, account: Account, **fields: Any) -> str:
    body = {"email": f"new-{uuid.uuid4().hex[:10]}@covo.test", "password": "another-secret-1", **fields}
    response = await client.post("/api/auth/users", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create_organization(client: httpx.AsyncClient, account: Account, name: str, parent: str | None = None) -> str:
    body: dict[str, Any] = {"name": name}
    if parent is not None:
        body["parentId"] = parent
    response = await client.post("/api/directory/organizations", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# Tables whose rows change without any write of the tenant's own (sign-in bookkeeping).
VOLATILE_TABLES = frozenset({"rate_limit_buckets", "auth_sessions"})


async def tenant_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    naming: Iterable[str] = (),
    skip: Iterable[str] = (),
) -> dict[str, list[str]]:
    """Every stored row of one tenant: rows of tables with `tenant_id`, rows of the other tables that
    point (by foreign key) at such a row (a role's ACL, a user's roles, an eSIM's events...), the
    tenant's own row, and rows of any other table that name one of `naming` (ids). Tables in
    `VOLATILE_TABLES` and `skip` are left out."""
    left_out = VOLATILE_TABLES | set(skip)
    named = {str(value) for value in naming}
    rows: dict[str, list[str]] = {}
    async with sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            owners = [
                fk.parent.in_(sa.select(fk.column).where(fk.column.table.c.tenant_id == tenant_id))
                for fk in table.foreign_keys
                if "tenant_id" in fk.column.table.c
            ]
            if table.name in left_out:
                continue
            if "tenant_id" in table.c:
                found = await session.execute(table.select().where(table.c.tenant_id == tenant_id))
            elif table.name == "tenants":
                found = await session.execute(table.select().where(table.c.id == tenant_id))
            elif owners:
                found = await session.execute(table.select().where(sa.or_(*owners)))
            elif named:
                everything = await session.execute(table.select())
                found = [r for r in everything if any(str(v) in named for v in r._mapping.values())]
            else:
                continue
            rows[table.name] = sorted(json.dumps(dict(r._mapping), default=str, sort_keys=True) for r in found)
    return rows


@contextlib.asynccontextmanager
async def nothing_written(
    sessionmaker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, skip: Iterable[str] = ()
) -> AsyncIterator[None]:
    """`async with nothing_written(sessionmaker, account.tenant_id): <refused requests>` fails unless
    every row of the tenant (see `tenant_rows`) is exactly as it was before the block."""
    before = await tenant_rows(sessionmaker, tenant_id, skip=skip)
    yield
    after = await tenant_rows(sessionmaker, tenant_id, skip=skip)
    changed = {name: {"before": before[name], "after": after[name]} for name in before if before[name] != after[name]}
    assert not changed, f"a refused request wrote rows: {changed}"


async def count_rows(sessionmaker: async_sessionmaker[AsyncSession], table: Any, *where: Any) -> int:
    """How many rows of `table` (a model or a Table) match `where`: for writes no tenant holds
    (tenants themselves, webhook intake)."""
    async with sessionmaker() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0)


@dataclass
class ApiProcess:
    """Another API process (its own app, caches and LISTEN connection) on the same database."""

    client: httpx.AsyncClient
    caches: Caches


async def api_process(settings: Settings) -> AsyncIterator[ApiProcess]:
    """Yields once the process listens for invalidations (its caches are on)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        caches: Caches = app.state.resources.caches
        for _ in range(200):  # the listener connects in the background
            if caches.principals.enabled:
                break
            await asyncio.sleep(0.02)
        assert caches.principals.enabled
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield ApiProcess(client, caches)
