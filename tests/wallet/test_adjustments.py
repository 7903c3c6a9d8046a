"""Manual adjustments through the API: each a Temporal workflow keyed by Idempotency-Key."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import WalletTransactionRow
from tests.conftest import Account
from tests.helpers import nothing_written
from tests.wallet.conftest import Wallets, adjust, balances


async def test_credit_then_debit_answer_transaction_and_new_balance(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets
) -> None:
    credit = await adjust(client, admin, wallets.standard, "credit", 1500)
    assert credit.status_code == 200, credit.text
    assert credit.json()["newBalance"] == {"amount": 1500, "currency": "EUR"}
    uuid.UUID(credit.json()["transactionId"])
    debit = await adjust(client, admin, wallets.standard, "debit", 400)
    assert debit.status_code == 200, debit.text
    assert debit.json()["newBalance"]["amount"] == 1100
    assert await balances(client, wallets.consumer) == {"standard": 1100, "bonus": 0, "total": 1100}
    history = await client.get("/api/wallet/me/wallets/transactions", headers=wallets.consumer.headers)
    assert [(t["type"], t["amount"]["amount"]) for t in history.json()["transactions"]] == [
        ("debit", 400),
        ("credit", 1500),
    ]
    assert history.json()["transactions"][0]["referenceType"] == "admin_adjustment"
    assert history.json()["transactions"][0]["walletType"] == "standard"


async def test_debit_beyond_balance_is_422_and_writes_nothing(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await adjust(client, admin, wallets.standard, "credit", 100)
    async with nothing_written(sessionmaker, admin.tenant_id):
        refused = await adjust(client, admin, wallets.standard, "debit", 101)
        assert refused.status_code == 422, refused.text
        assert refused.json() == {"error": "Insufficient funds"}
    assert (await balances(client, wallets.consumer))["standard"] == 100
    listed = await client.get(f"/api/wallet/admin/wallets/{wallets.standard}/transactions", headers=admin.headers)
    assert listed.json()["total"] == 1


async def test_same_key_returns_first_result_and_different_body_is_409(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = await adjust(client, admin, wallets.standard, "credit", 700, key="k-1")
    again = await adjust(client, admin, wallets.standard, "credit", 700, key="k-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    async with nothing_written(sessionmaker, admin.tenant_id):
        other = await adjust(client, admin, wallets.standard, "credit", 701, key="k-1")
        assert other.status_code == 409, other.text
    assert (await balances(client, wallets.consumer))["standard"] == 700


async def test_missing_idempotency_key_is_400(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    body = {"type": "credit", "amountEuroCents": 5, "reason": "x"}
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.post(
            f"/api/wallet/admin/wallets/{wallets.standard}/transactions", json=body, headers=admin.headers
        )
        assert response.status_code == 400


async def test_invalid_bodies_are_400(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        for kind, cents, reason in (("credit", 0, "x"), ("credit", -5, "x"), ("gift", 5, "x"), ("credit", 5, "")):
            response = await adjust(client, admin, wallets.standard, kind, cents, reason=reason)
            assert response.status_code == 400, (kind, cents, reason, response.text)


async def test_same_key_ten_times_concurrently_is_one_transaction(
    client: httpx.AsyncClient,
    admin: Account,
    wallets: Wallets,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    answers = await asyncio.gather(
        *(adjust(client, admin, wallets.standard, "credit", 250, key="same-key") for _ in range(10))
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["transactionId"] for a in answers}) == 1
    assert (await balances(client, wallets.consumer))["standard"] == 250
    async with sessionmaker() as session:
        count = await session.scalar(select(func.count()).where(WalletTransactionRow.tenant_id == admin.tenant_id))
    assert count == 1


async def test_another_tenants_wallet_is_404(
    client: httpx.AsyncClient, wallets: Wallets, make_account: object, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await make_account("admin")  # type: ignore[operator]
    async with (
        nothing_written(sessionmaker, wallets.consumer.tenant_id),
        nothing_written(sessionmaker, other.tenant_id),
    ):
        response = await adjust(client, other, wallets.standard, "credit", 5)
        assert response.status_code == 404
    listed = await client.get(f"/api/wallet/admin/wallets/{wallets.standard}/transactions", headers=other.headers)
    assert listed.status_code == 404
