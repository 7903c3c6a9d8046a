"""Two-phase purchases (what eSIM provisioning uses): hold, then post or void exactly once; bonus
spent first; refunds reverse the split; bonus expiry; all balanced and reconciled."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.errors import Conflict, Unprocessable
from engine.wallet import service
from engine.wallet.errors import InsufficientFunds
from tests.conftest import Account
from tests.wallet.conftest import Wallets, adjust, balances

Maker = async_sessionmaker[AsyncSession]


async def _fund(client: httpx.AsyncClient, admin: Account, wallets: Wallets, standard: int, bonus: int) -> None:
    if standard:
        assert (await adjust(client, admin, wallets.standard, "credit", standard)).status_code == 200
    if bonus:
        assert (await adjust(client, admin, wallets.bonus, "credit", bonus)).status_code == 200


async def test_hold_spends_bonus_first_and_post_debits_once(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    await _fund(client, admin, wallets, standard=1000, bonus=300)
    user_id = uuid.UUID(wallets.consumer.user_id)
    async with sessionmaker() as session, session.begin():
        held = await service.hold(
            session, tenant_id=admin.tenant_id, user_id=user_id, amount=500, idempotency_key="esim-1"
        )
    assert (held.bonus_amount, held.standard_amount, held.status) == (300, 200, "pending")
    # Held money is not available, but nothing is posted yet.
    assert await balances(client, wallets.consumer) == {"standard": 800, "bonus": 0, "total": 800}
    async with sessionmaker() as session:
        assert (await service.reconcile(session)).ok
    async with sessionmaker() as session, session.begin():
        again = await service.hold(
            session, tenant_id=admin.tenant_id, user_id=user_id, amount=500, idempotency_key="esim-1"
        )
    assert again.hold_id == held.hold_id
    for _ in range(2):
        async with sessionmaker() as session, session.begin():
            posted = await service.post_hold(session, tenant_id=admin.tenant_id, idempotency_key="esim-1")
        assert posted.status == "posted"
    assert await balances(client, wallets.consumer) == {"standard": 800, "bonus": 0, "total": 800}
    history = await client.get("/api/wallet/me/wallets/transactions", headers=wallets.consumer.headers)
    purchase = [t for t in history.json()["transactions"] if t["referenceType"] == "purchase"]
    assert sorted((t["walletType"], t["amount"]["amount"]) for t in purchase) == [("bonus", 300), ("standard", 200)]
    async with sessionmaker() as session, session.begin():
        with pytest.raises(Conflict):
            await service.void_hold(session, tenant_id=admin.tenant_id, idempotency_key="esim-1")


async def test_void_releases_the_hold_exactly_once(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    await _fund(client, admin, wallets, standard=400, bonus=100)
    user_id = uuid.UUID(wallets.consumer.user_id)
    async with sessionmaker() as session, session.begin():
        await service.hold(session, tenant_id=admin.tenant_id, user_id=user_id, amount=450, idempotency_key="h")
    for _ in range(2):
        async with sessionmaker() as session, session.begin():
            voided = await service.void_hold(session, tenant_id=admin.tenant_id, idempotency_key="h")
        assert voided.status == "voided"
    assert await balances(client, wallets.consumer) == {"standard": 400, "bonus": 100, "total": 500}
    async with sessionmaker() as session, session.begin():
        with pytest.raises(Conflict):
            await service.post_hold(session, tenant_id=admin.tenant_id, idempotency_key="h")
    # The voided bonus is spendable again, through its lot.
    async with sessionmaker() as session, session.begin():
        again = await service.hold(
            session, tenant_id=admin.tenant_id, user_id=user_id, amount=500, idempotency_key="h2"
        )
    assert (again.bonus_amount, again.standard_amount) == (100, 400)


async def test_hold_beyond_available_is_refused_and_reserves_nothing(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    await _fund(client, admin, wallets, standard=100, bonus=50)
    user_id = uuid.UUID(wallets.consumer.user_id)
    with pytest.raises(InsufficientFunds):
        async with sessionmaker() as session, session.begin():
            await service.hold(session, tenant_id=admin.tenant_id, user_id=user_id, amount=151, idempotency_key="x")
    assert await balances(client, wallets.consumer) == {"standard": 100, "bonus": 50, "total": 150}


async def test_refund_reverses_the_original_split(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    await _fund(client, admin, wallets, standard=1000, bonus=200)
    user_id = uuid.UUID(wallets.consumer.user_id)
    async with sessionmaker() as session, session.begin():
        await service.hold(session, tenant_id=admin.tenant_id, user_id=user_id, amount=600, idempotency_key="p")
        posted = await service.post_hold(session, tenant_id=admin.tenant_id, idempotency_key="p")
    assert posted.transaction_id is not None
    async with sessionmaker() as session, session.begin():
        part = await service.refund(
            session, tenant_id=admin.tenant_id, transaction_id=posted.transaction_id, idempotency_key="r1", amount=300
        )
    assert (part.bonus_amount, part.standard_amount) == (100, 200)
    async with sessionmaker() as session, session.begin():
        same = await service.refund(
            session, tenant_id=admin.tenant_id, transaction_id=posted.transaction_id, idempotency_key="r1", amount=300
        )
    assert same == part
    async with sessionmaker() as session, session.begin():
        rest = await service.refund(
            session, tenant_id=admin.tenant_id, transaction_id=posted.transaction_id, idempotency_key="r2"
        )
    assert (rest.bonus_amount, rest.standard_amount) == (100, 200)
    assert await balances(client, wallets.consumer) == {"standard": 1000, "bonus": 200, "total": 1200}
    with pytest.raises(Unprocessable):
        async with sessionmaker() as session, session.begin():
            await service.refund(
                session, tenant_id=admin.tenant_id, transaction_id=posted.transaction_id, idempotency_key="r3"
            )


async def test_expired_bonus_is_taken_back_lot_by_lot(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    later = datetime.now(UTC) + timedelta(days=30)
    for cents, expiry in ((300, soon), (500, later)):
        response = await adjust(client, admin, wallets.bonus, "credit", cents, expiresAt=expiry.isoformat())
        assert response.status_code == 200, response.text
    # Spending takes the soonest-expiring lot first: 200 of the 300.
    assert (await adjust(client, admin, wallets.bonus, "debit", 200)).status_code == 200
    async with sessionmaker() as session, session.begin():
        report = await service.expire_bonus(session, now=soon + timedelta(seconds=1))
    assert report.lots_expired >= 1
    assert (await balances(client, wallets.consumer))["bonus"] == 500
    async with sessionmaker() as session, session.begin():
        await service.expire_bonus(session, now=soon + timedelta(seconds=1))
    assert (await balances(client, wallets.consumer))["bonus"] == 500
    history = await client.get(
        "/api/wallet/me/wallets/transactions", params={"walletType": "bonus"}, headers=wallets.consumer.headers
    )
    assert history.json()["transactions"][0]["referenceType"] == "bonus_expiry"
    assert history.json()["transactions"][0]["amount"]["amount"] == 100
    async with sessionmaker() as session:
        assert (await service.reconcile(session)).ok
