"""Tenant-scoped statements of the wallet ledger. Flush, never commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db.base import utcnow
from engine.db.models import (
    BonusLotRow,
    ConsumerRow,
    User,
    WalletEntryRow,
    WalletRow,
    WalletTransactionRow,
)
from engine.wallet.ledger import BONUS, STANDARD, Lot


async def ensure_user_wallets(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """The user's standard and bonus wallet ids, created when missing (safe under concurrency)."""
    rows = [
        {"id": uuid.uuid4(), "tenant_id": tenant_id, "user_id": user_id, "type": kind, "balance": 0, "held": 0}
        for kind in (STANDARD, BONUS)
    ]
    await session.execute(
        pg_insert(WalletRow)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["user_id", "type"], index_where=WalletRow.user_id.is_not(None))
    )
    found = await session.execute(
        select(WalletRow.type, WalletRow.id).where(WalletRow.user_id == user_id, WalletRow.tenant_id == tenant_id)
    )
    return {kind: wallet_id for kind, wallet_id in found.all()}


async def system_account(session: AsyncSession, tenant_id: uuid.UUID, code: str) -> uuid.UUID:
    """The tenant's system account `code`, created on first use. Only read afterwards: system
    accounts carry no cached balance, so they never become a hot row."""
    query = select(WalletRow.id).where(
        WalletRow.tenant_id == tenant_id, WalletRow.type == "system", WalletRow.system_code == code
    )
    found = await session.scalar(query)
    if found is not None:
        return found
    await session.execute(
        pg_insert(WalletRow)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, type="system", system_code=code, balance=0, held=0)
        .on_conflict_do_nothing(index_elements=["tenant_id", "system_code"], index_where=text("type = 'system'"))
    )
    created = await session.scalar(query)
    assert created is not None
    return created


async def transaction_by_key(session: AsyncSession, tenant_id: uuid.UUID, key: str) -> WalletTransactionRow | None:
    return await session.scalar(
        select(WalletTransactionRow).where(
            WalletTransactionRow.tenant_id == tenant_id, WalletTransactionRow.idempotency_key == key
        )
    )


async def apply_delta(
    session: AsyncSession, wallet_id: uuid.UUID, delta: int, *, release_held: int = 0, reserve: int = 0
) -> int | None:
    """Changes a user wallet's cached balance (and held amount) in one conditional statement that
    also takes the row lock: it matches only when what is available covers the change, so a debit
    beyond the balance changes nothing and returns None. Returns the new balance."""
    available_after = WalletRow.balance - WalletRow.held + delta + release_held - reserve
    statement = (
        update(WalletRow)
        .where(WalletRow.id == wallet_id, WalletRow.type != "system", available_after >= 0)
        .values(
            balance=WalletRow.balance + delta,
            held=WalletRow.held - release_held + reserve,
            **({"last_transaction_at": utcnow()} if delta else {}),
        )
        .returning(WalletRow.balance)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def insert_transaction(session: AsyncSession, values: dict[str, Any], entries: list[dict[str, Any]]) -> uuid.UUID:
    transaction_id = uuid.uuid4()
    now = utcnow()
    await session.execute(insert(WalletTransactionRow).values(id=transaction_id, created_at=now, **values))
    await session.execute(
        insert(WalletEntryRow).values(
            [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": values["tenant_id"],
                    "transaction_id": transaction_id,
                    "balance_after": None,
                    "lot_id": None,
                    "created_at": now,
                    **entry,
                }
                for entry in entries
            ]
        )
    )
    return transaction_id


async def lots_for_update(session: AsyncSession, wallet_id: uuid.UUID) -> list[Lot]:
    rows = await session.execute(
        select(BonusLotRow.id, BonusLotRow.remaining, BonusLotRow.expires_at, BonusLotRow.created_at)
        .where(BonusLotRow.wallet_id == wallet_id, BonusLotRow.remaining > 0)
        .with_for_update()
    )
    return [Lot(r.id, r.remaining, r.expires_at, r.created_at) for r in rows.all()]


async def change_lot(session: AsyncSession, lot_id: uuid.UUID, delta: int) -> None:
    await session.execute(
        update(BonusLotRow).where(BonusLotRow.id == lot_id).values(remaining=BonusLotRow.remaining + delta)
    )


async def add_lot(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    wallet_id: uuid.UUID,
    transaction_id: uuid.UUID,
    amount: int,
    expires_at: datetime | None,
    *,
    lot_id: uuid.UUID | None = None,
) -> uuid.UUID:
    lot_id = lot_id or uuid.uuid4()
    await session.execute(
        insert(BonusLotRow).values(
            id=lot_id,
            tenant_id=tenant_id,
            wallet_id=wallet_id,
            transaction_id=transaction_id,
            amount=amount,
            remaining=amount,
            expires_at=expires_at,
            created_at=utcnow(),
        )
    )
    return lot_id


def wallets_listing(tenant_id: uuid.UUID) -> Select[*tuple[Any, ...]]:
    """User wallets of a tenant with their owner's e-mail and name."""
    name = func.nullif(func.concat_ws(" ", ConsumerRow.first_name, ConsumerRow.last_name), "")
    return (
        select(WalletRow, User.email, func.coalesce(name, User.name).label("user_name"))
        .join(User, User.id == WalletRow.user_id)
        .outerjoin(ConsumerRow, ConsumerRow.user_id == User.id)
        .where(WalletRow.tenant_id == tenant_id, WalletRow.type != "system")
    )


def search_condition(search: str) -> ColumnElement[bool]:
    pattern = f"%{search.strip()}%"
    return or_(
        User.email.ilike(pattern),
        User.name.ilike(pattern),
        ConsumerRow.first_name.ilike(pattern),
        ConsumerRow.last_name.ilike(pattern),
    )


def entries_listing(tenant_id: uuid.UUID) -> Select[*tuple[Any, ...]]:
    """Entries on user wallets with their transaction, newest first."""
    return (
        select(WalletEntryRow, WalletTransactionRow, WalletRow.type.label("wallet_type"))
        .join(WalletTransactionRow, WalletTransactionRow.id == WalletEntryRow.transaction_id)
        .join(WalletRow, WalletRow.id == WalletEntryRow.wallet_id)
        .where(WalletEntryRow.tenant_id == tenant_id, WalletRow.type != "system")
    )
