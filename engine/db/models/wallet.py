"""The wallet ledger. Entries and transactions are append-only (a database trigger refuses UPDATE
and DELETE); a user wallet's cached `balance` is changed in the same transaction as its entries,
and the database refuses a negative balance or a hold beyond it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, Timestamps, UUIDPk, utcnow


class WalletRow(UUIDPk, Timestamps, Base):
    """A user's `standard` or `bonus` wallet, or a tenant's `system` account (`system_code`:
    admin_adjustments, promotions, sales, refunds). System accounts are the other side of every
    transaction; their balance is the sum of their entries (not cached, so they are no hot row)."""

    __tablename__ = "wallets"
    __table_args__ = (
        CheckConstraint("type = 'system' OR (balance >= 0 AND held >= 0 AND held <= balance)", name="balance_covered"),
        CheckConstraint("(type = 'system') = (system_code IS NOT NULL AND user_id IS NULL)", name="system_shape"),
        Index("uq_wallets_user_type", "user_id", "type", unique=True, postgresql_where=text("user_id IS NOT NULL")),
        Index(
            "uq_wallets_tenant_system",
            "tenant_id",
            "system_code",
            unique=True,
            postgresql_where=text("type = 'system'"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    type: Mapped[str] = mapped_column(String(20))  # standard | bonus | system
    system_code: Mapped[str | None] = mapped_column(String(40), default=None)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # Euro cents. `held` is reserved by pending holds: available = balance - held.
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    last_transaction_at: Mapped[datetime | None] = mapped_column(default=None)


class WalletTransactionRow(UUIDPk, Base):
    """One financial event: two or more entries summing to zero. `type` is what it is for the user
    (credit or debit); `reference_type` why (admin_adjustment, purchase, refund, bonus_expiry...)."""

    __tablename__ = "wallet_transactions"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(300))
    # Hash of the request that claimed the key: the same key with another request is refused.
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    type: Mapped[str] = mapped_column(String(10))  # credit | debit
    reference_type: Mapped[str] = mapped_column(String(40))
    reference_id: Mapped[str | None] = mapped_column(String(200), default=None)
    description: Mapped[str] = mapped_column(String(1000), default="")
    reason: Mapped[str | None] = mapped_column(String(1000), default=None)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    request_id: Mapped[str | None] = mapped_column(String(200), default=None)
    # A correction or refund points at the transaction it reverses.
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("wallet_transactions.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class WalletEntryRow(UUIDPk, Base):
    """One side of a transaction: a signed amount in cents on one wallet or system account
    (positive = credit to that account)."""

    __tablename__ = "wallet_entries"
    __table_args__ = (Index("ix_wallet_entries_wallet_created", "wallet_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallet_transactions.id"), index=True)
    wallet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallets.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    # The wallet's balance right after this entry (user wallets; None on system accounts).
    balance_after: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The bonus lot this entry granted, spent or expired (bonus wallets only).
    lot_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class WalletHoldRow(UUIDPk, Timestamps, Base):
    """A two-phase purchase: `pending` reserves available balance (bonus first, then standard), then
    it is `posted` (a purchase transaction) or `voided`, exactly once."""

    __tablename__ = "wallet_holds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        CheckConstraint("bonus_amount >= 0 AND standard_amount >= 0", name="amounts_non_negative"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | posted | voided
    bonus_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    standard_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    # [{"lotId", "amount", "expiresAt"}]: the bonus lots reserved, in spending order.
    lots: Mapped[list[Any]] = mapped_column(default=list)
    reference_type: Mapped[str] = mapped_column(String(40), default="purchase")
    reference_id: Mapped[str | None] = mapped_column(String(200), default=None)
    description: Mapped[str] = mapped_column(String(1000), default="")
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("wallet_transactions.id"), default=None)


class BonusLotRow(UUIDPk, Base):
    """One bonus grant, spent soonest-expiring first. `remaining` excludes what holds reserved, so a
    bonus wallet's balance - held equals the sum of its lots' remaining."""

    __tablename__ = "wallet_bonus_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
        Index("ix_wallet_bonus_lots_expiring", "expires_at", postgresql_where=text("remaining > 0")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    wallet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallets.id"), index=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallet_transactions.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
