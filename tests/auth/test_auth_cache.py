"""Verified principals are cached per API process (engine/invalidation.py); a revoked session or
a removed feature still stops working in every process: at once through NOTIFY, and at the latest
after AUTH_CACHE_TTL_SECONDS (1 s) even if a notification were lost.

Two `create_app` instances sharing the database stand for two API processes: the change is made
through the shared `client`, and checked on `other`, whose cache already holds the principal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import AuthSession
from engine.settings import Settings
from tests.conftest import Account, MakeAccount
from tests.helpers import ApiProcess, api_process

USERS = "/api/auth/users"  # needs auth.users.list, which `employee` holds


@pytest.fixture
async def other(settings: Settings) -> AsyncIterator[ApiProcess]:
    """A second API process whose entries would live a minute: only NOTIFY can drop them."""
    # model_copy skips validation: the setting is capped at 1 s, a test wants it long.
    async for process in api_process(settings.model_copy(update={"auth_cache_ttl_seconds": 60.0})):
        yield process


async def _cached_on(other: ApiProcess, account: Account) -> None:
    """The other process has verified the account and keeps the principal. Setting up the account
    wrote users and sessions, whose notifications may still be on their way and drop the entry:
    ask again until it stays."""
    for _ in range(50):
        assert (await other.client.get(USERS, headers=account.headers)).status_code == 200
        await asyncio.sleep(0.1)
        if other.caches.principals.get(account.token) is not None:
            return
    raise AssertionError("the principal was never kept")


async def _eventually(other: ApiProcess, account: Account, status: int) -> None:
    for _ in range(200):
        if (await other.client.get(USERS, headers=account.headers)).status_code == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the other process never answered {status}")


async def role_id(client: httpx.AsyncClient, admin: Account, name: str) -> str:
    roles = (await client.get("/api/auth/roles", params={"search": name}, headers=admin.headers)).json()["items"]
    return str(next(r["id"] for r in roles if r["name"] == name))


async def test_logout_ends_the_session_in_every_process(
    client: httpx.AsyncClient, other: ApiProcess, make_account: MakeAccount
) -> None:
    employee = await make_account("employee")
    await _cached_on(other, employee)
    assert (await client.post("/api/auth/logout", headers=employee.headers)).status_code == 201
    assert (await client.get(USERS, headers=employee.headers)).status_code == 401  # this process: at once
    await _eventually(other, employee, 401)


async def _remove_role(client: httpx.AsyncClient, admin: Account, employee: Account) -> httpx.Response:
    return await client.put(USERS, json={"id": str(employee.user_id), "roles": []}, headers=admin.headers)


async def _empty_role_acl(client: httpx.AsyncClient, admin: Account, employee: Account) -> httpx.Response:
    role = await role_id(client, admin, "employee")
    return await client.put("/api/auth/roles/acl", json={"roleId": role, "features": []}, headers=admin.headers)


async def _deactivate(client: httpx.AsyncClient, admin: Account, employee: Account) -> httpx.Response:
    return await client.put(USERS, json={"id": str(employee.user_id), "isActive": False}, headers=admin.headers)


@pytest.mark.parametrize(
    ("change", "refused"),
    [(_remove_role, 403), (_empty_role_acl, 403), (_deactivate, 401)],
    ids=["role removed", "role ACL emptied", "user deactivated"],
)
async def test_an_admin_change_applies_in_every_process(
    client: httpx.AsyncClient,
    other: ApiProcess,
    admin: Account,
    make_account: MakeAccount,
    change: Callable[[httpx.AsyncClient, Account, Account], Awaitable[httpx.Response]],
    refused: int,
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    await _cached_on(other, employee)
    changed = await change(client, admin, employee)
    assert changed.status_code == 200, changed.text
    assert (await client.get(USERS, headers=employee.headers)).status_code == refused  # this process: at once
    await _eventually(other, employee, refused)


async def test_without_a_notification_a_revocation_waits_one_ttl_at_most(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], make_account: MakeAccount
) -> None:
    """The bound holds even if the NOTIFY were lost: the session is revoked with triggers off."""
    assert settings.auth_cache_ttl_seconds == 1.0  # the default, documented bound
    employee = await make_account("employee")
    async for process in api_process(settings):
        await _cached_on(process, employee)
        async with sessionmaker() as session, session.begin():
            await session.execute(text("SET LOCAL session_replication_role = replica"))  # no triggers, no NOTIFY
            await session.execute(
                update(AuthSession).where(AuthSession.user_id == employee.user_id).values(revoked_at=text("now()"))
            )
        revoked = asyncio.get_running_loop().time()
        assert process.caches.principals.get(employee.token) is not None  # nobody told this process
        await asyncio.sleep(max(0.0, revoked + settings.auth_cache_ttl_seconds - asyncio.get_running_loop().time()))
        assert (await process.client.get(USERS, headers=employee.headers)).status_code == 401


async def test_a_refused_token_is_not_cached(other: ApiProcess) -> None:
    forged = Account("x@covo.test", uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "not-a-token")
    assert (await other.client.get(USERS, headers=forged.headers)).status_code == 401
    assert other.caches.principals.get(forged.token) is None
