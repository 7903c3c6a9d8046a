"""The ledger's invariants, each checked where it is enforced (the database, or the service)."""

from __future__ import annotations

import asyncio
import random
import uuid

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import WalletEntryRow, WalletRow, WalletTransactionRow
from engine.wallet import service
from tests.conftest import Account
from tests.wallet.conftest import Wallets, adjust, balances

Maker = async_sessionmaker[AsyncSession]


async def _one_transaction(sessionmaker: Maker, tenant_id: uuid.UUID) -> uuid.UUID:
    async with sessionmaker() as session:
        found = await session.scalar(
            select(WalletTransactionRow.id).where(WalletTransactionRow.tenant_id == tenant_id).limit(1)
        )
    assert found is not None
    return found


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE wallet_entries SET amount = amount + 1 WHERE transaction_id = :t",
        "DELETE FROM wallet_entries WHERE transaction_id = :t",
        "UPDATE wallet_transactions SET reason = 'changed' WHERE id = :t",
        "DELETE FROM wallet_transactions WHERE id = :t",
    ],
)
async def test_the_database_refuses_to_change_or_delete_ledger_rows(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker, statement: str
) -> None:
    await adjust(client, admin, wallets.standard, "credit", 100)
    transaction_id = await _one_transaction(sessionmaker, admin.tenant_id)
    with pytest.raises(DBAPIError, match="append-only"):
        async with sessionmaker() as session, session.begin():
            await session.execute(text(statement), {"t": transaction_id})
    assert (await balances(client, wallets.consumer))["standard"] == 100


async def test_the_database_refuses_a_negative_balance(admin: Account, wallets: Wallets, sessionmaker: Maker) -> None:
    with pytest.raises(DBAPIError, match="balance_covered"):
        async with sessionmaker() as session, session.begin():
            await session.execute(text("UPDATE wallets SET balance = -1 WHERE id = :w"), {"w": wallets.standard})


async def test_the_database_refuses_an_unbalanced_transaction(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    await adjust(client, admin, wallets.standard, "credit", 100)
    transaction_id = await _one_transaction(sessionmaker, admin.tenant_id)
    with pytest.raises(DBAPIError, match="does not balance"):
        async with sessionmaker() as session, session.begin():
            session.add(
                WalletEntryRow(
                    tenant_id=admin.tenant_id,
                    transaction_id=transaction_id,
                    wallet_id=uuid.UUID(wallets.standard),
                    amount=5,
                )
            )


async def test_every_transaction_balances_against_a_system_account(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    await adjust(client, admin, wallets.standard, "credit", 900)
    await adjust(client, admin, wallets.bonus, "credit", 100)
    await adjust(client, admin, wallets.standard, "debit", 300)
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(WalletEntryRow.transaction_id, WalletRow.type, WalletRow.system_code, WalletEntryRow.amount)
                .join(WalletRow, WalletRow.id == WalletEntryRow.wallet_id)
                .where(WalletEntryRow.tenant_id == admin.tenant_id)
            )
        ).all()
    per_transaction: dict[uuid.UUID, list[tuple[str, str | None, int]]] = {}
    for transaction_id, kind, code, amount in rows:
        per_transaction.setdefault(transaction_id, []).append((kind, code, amount))
    assert len(per_transaction) == 3
    for legs in per_transaction.values():
        assert sum(amount for _, _, amount in legs) == 0
        assert [code for kind, code, _ in legs if kind == "system"] == ["admin_adjustments"]
    # The system account holds the mirror image of what the users hold.
    assert sum(a for _, kind, code, a in rows if kind == "system") == -700


async def test_an_adjustment_records_actor_reason_reference_and_request_id(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    response = await client.post(
        f"/api/wallet/admin/wallets/{wallets.standard}/transactions",
        json={"type": "credit", "amountEuroCents": 42, "reason": "goodwill", "referenceId": "ticket-7"},
        headers={**admin.headers, "Idempotency-Key": "rec-1", "x-request-id": "req-abc"},
    )
    assert response.status_code == 200, response.text
    async with sessionmaker() as session:
        row = await session.get(WalletTransactionRow, uuid.UUID(response.json()["transactionId"]))
    assert row is not None
    assert (row.actor_id, row.reason, row.reference_id, row.request_id) == (
        admin.user_id,
        "goodwill",
        "ticket-7",
        "req-abc",
    )


async def test_a_refund_is_a_new_transaction_referencing_the_original(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    await adjust(client, admin, wallets.standard, "credit", 500)
    user_id = uuid.UUID(wallets.consumer.user_id)
    async with sessionmaker() as session, session.begin():
        await service.hold(session, tenant_id=admin.tenant_id, user_id=user_id, amount=200, idempotency_key="o")
        posted = await service.post_hold(session, tenant_id=admin.tenant_id, idempotency_key="o")
        assert posted.transaction_id is not None
        refunded = await service.refund(
            session, tenant_id=admin.tenant_id, transaction_id=posted.transaction_id, idempotency_key="o"
        )
    async with sessionmaker() as session:
        row = await session.get(WalletTransactionRow, refunded.transaction_id)
    assert row is not None and row.reverses_id == posted.transaction_id


async def test_reconcile_reports_a_cached_balance_that_drifted_from_the_entries(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    await adjust(client, admin, wallets.standard, "credit", 100)
    async with sessionmaker() as session:
        report = await service.reconcile(session)
    assert report.ok and report.global_sum == 0
    async with sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE wallets SET balance = balance + 1 WHERE id = :w"), {"w": wallets.standard})
    try:
        async with sessionmaker() as session:
            report = await service.reconcile(session)
        assert [(str(d.wallet_id), d.cached, d.entries) for d in report.differences] == [(wallets.standard, 101, 100)]
        assert not report.ok
    finally:
        async with sessionmaker() as session, session.begin():
            await session.execute(
                text("UPDATE wallets SET balance = balance - 1 WHERE id = :w"), {"w": wallets.standard}
            )


async def test_200_concurrent_mixed_adjustments_on_one_wallet_end_exact(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    assert (await adjust(client, admin, wallets.standard, "credit", 5_000)).status_code == 200
    rng = random.Random(9)
    plan = [("credit" if i % 2 else "debit", rng.randint(1, 400)) for i in range(200)]
    answers = await asyncio.gather(*(adjust(client, admin, wallets.standard, kind, cents) for kind, cents in plan))
    assert {a.status_code for a in answers} <= {200, 422}
    applied = [(kind, cents) for (kind, cents), a in zip(plan, answers, strict=True) if a.status_code == 200]
    expected = 5_000 + sum(c if k == "credit" else -c for k, c in applied)
    assert all(a.json()["newBalance"]["amount"] >= 0 for a in answers if a.status_code == 200)
    assert (await balances(client, wallets.consumer))["standard"] == expected
    async with sessionmaker() as session:
        entries = await session.scalar(
            select(func.coalesce(func.sum(WalletEntryRow.amount), 0)).where(
                WalletEntryRow.wallet_id == uuid.UUID(wallets.standard)
            )
        )
        count = await session.scalar(select(func.count()).where(WalletTransactionRow.tenant_id == admin.tenant_id))
        report = await service.reconcile(session)
    assert entries == expected
    assert count == 1 + len(applied)
    assert report.ok


async def test_reconcile_reports_reservations_that_match_no_hold(
    client: httpx.AsyncClient, admin: Account, wallets: Wallets, sessionmaker: Maker
) -> None:
    await adjust(client, admin, wallets.bonus, "credit", 100)
    drift = "UPDATE wallets SET held = held + :d WHERE id = :w"
    async with sessionmaker() as session, session.begin():
        await session.execute(text(drift), {"d": 1, "w": wallets.bonus})
    try:
        async with sessionmaker() as session:
            report = await service.reconcile(session)
        assert [str(w) for w in report.held_mismatches] == [wallets.bonus]
        assert [str(w) for w in report.bonus_lot_mismatches] == [wallets.bonus]
        assert not report.ok
    finally:
        async with sessionmaker() as session, session.begin():
            await session.execute(text(drift), {"d": -1, "w": wallets.bonus})
