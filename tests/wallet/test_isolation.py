"""Consumers see only their own wallets and history; other tenants' wallets are 404."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Account, MakeAccount
from tests.consumers.conftest import sign_up
from tests.helpers import nothing_written
from tests.wallet.conftest import Wallets, adjust, wallets_of


async def test_a_consumer_sees_only_its_own_wallets_and_transactions(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets
) -> None:
    other = await wallets_of(client, await sign_up(client, admin.tenant_id))
    await adjust(client, admin, wallets.standard, "credit", 100)
    await adjust(client, admin, other.standard, "credit", 999)
    mine = await client.get("/api/wallet/me/wallets/transactions", headers=wallets.consumer.headers)
    assert [(t["walletId"], t["amount"]["amount"]) for t in mine.json()["transactions"]] == [(wallets.standard, 100)]
    listed = await client.get("/api/wallet/me/wallets", headers=wallets.consumer.headers)
    assert {w["id"] for w in listed.json()["wallets"]} == {wallets.standard, wallets.bonus, None}
    # The admin routes that take a wallet id are not a consumer's.
    peek = await client.get(
        f"/api/wallet/admin/wallets/{other.standard}/transactions", headers=wallets.consumer.headers
    )
    assert peek.status_code == 403


async def test_another_tenant_sees_none_of_the_wallets(
    client: httpx.AsyncClient,
    admin: Account,
    wallets: Wallets,
    make_account: MakeAccount,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    stranger = await make_account("admin")
    listed = await client.get("/api/wallet/admin/wallets", params={"id": wallets.standard}, headers=stranger.headers)
    assert listed.json() == {"wallets": [], "total": 0}
    peek = await client.get(f"/api/wallet/admin/wallets/{wallets.standard}/transactions", headers=stranger.headers)
    assert peek.status_code == 404
    async with nothing_written(sessionmaker, admin.tenant_id), nothing_written(sessionmaker, stranger.tenant_id):
        create = await client.post(
            "/api/wallet/admin/wallets", json={"userId": wallets.consumer.user_id}, headers=stranger.headers
        )
        assert create.status_code == 404


async def test_admin_lists_searches_and_creates_wallets_idempotently(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets
) -> None:
    await adjust(client, admin, wallets.standard, "credit", 300)
    found = await client.get(
        "/api/wallet/admin/wallets",
        params={"search": wallets.consumer.email, "type": "standard"},
        headers=admin.headers,
    )
    assert found.status_code == 200, found.text
    [row] = found.json()["wallets"]
    assert (row["id"], row["userEmail"], row["balance"]["amount"]) == (wallets.standard, wallets.consumer.email, 300)
    assert row["lastTransactionAt"] is not None
    bad = await client.get("/api/wallet/admin/wallets", params={"type": "gold"}, headers=admin.headers)
    assert bad.status_code == 400
    for _ in range(2):
        created = await client.post(
            "/api/wallet/admin/wallets", json={"userId": wallets.consumer.user_id}, headers=admin.headers
        )
        assert created.status_code == 201, created.text
        assert created.json() == {"standardId": wallets.standard, "bonusId": wallets.bonus}
    fresh = await client.post("/api/wallet/admin/wallets", json={"userId": str(admin.user_id)}, headers=admin.headers)
    assert fresh.status_code == 201
    assert fresh.json()["standardId"] != wallets.standard
