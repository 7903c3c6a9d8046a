"""Typed inputs and results of the wallet domain (Temporal contracts and service results): pure."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AdjustmentRequest(BaseModel):
    """One manual adjustment; the workflow id and the ledger's idempotency key both come from
    `idempotency_key`, and `request_hash` makes the same key with another body a 409."""

    tenant_id: uuid.UUID
    wallet_id: uuid.UUID
    type: Literal["credit", "debit"]
    amount: int = Field(gt=0)
    reason: str
    idempotency_key: str
    request_hash: str
    actor_id: uuid.UUID | None = None
    request_id: str | None = None
    reference_id: str | None = None
    # Bonus credits only: when the granted lot expires.
    expires_at: datetime | None = None


class AdjustmentResult(BaseModel):
    transaction_id: uuid.UUID
    new_balance: int
    currency: str = "EUR"


class HoldResult(BaseModel):
    hold_id: uuid.UUID
    status: Literal["pending", "posted", "voided"]
    amount: int
    bonus_amount: int
    standard_amount: int
    transaction_id: uuid.UUID | None = None


class RefundResult(BaseModel):
    transaction_id: uuid.UUID
    bonus_amount: int
    standard_amount: int


class WalletDifference(BaseModel):
    wallet_id: uuid.UUID
    tenant_id: uuid.UUID
    cached: int
    entries: int


class ReconcileReport(BaseModel):
    wallets_checked: int
    differences: list[WalletDifference] = Field(default_factory=list)
    # Sum of every entry of every account (user wallets and system accounts): always 0.
    global_sum: int
    unbalanced_transactions: list[uuid.UUID] = Field(default_factory=list)
    # Wallets whose `held` differs from their pending holds, and bonus wallets whose unreserved
    # balance differs from what their lots have left.
    held_mismatches: list[uuid.UUID] = Field(default_factory=list)
    bonus_lot_mismatches: list[uuid.UUID] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.differences
            or self.global_sum
            or self.unbalanced_transactions
            or self.held_mismatches
            or self.bonus_lot_mismatches
        )


class ExpiryReport(BaseModel):
    lots_expired: int
    amount_expired: int
