"""Request bodies and answers of the wallet routes. Money is `{amount, currency}` with `amount` in
integer euro cents."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Body
from engine.wallet.service import ListedEntry, ListedWallet
from engine.workflows.interpreter_logic import iso_timestamp


class Money(Body):
    amount: int
    currency: str

    @classmethod
    def eur(cls, cents: int) -> Money:
        return cls(amount=cents, currency="EUR")


class OwnWallet(Body):
    id: str | None = Field(description="None for the combined virtual total")
    type: str = Field(description="standard, bonus, or total (standard + bonus)")
    balance: Money = Field(description="Available balance: posted balance minus pending holds")


class OwnWallets(Body):
    wallets: list[OwnWallet]


class Transaction(Body):
    id: str = Field(description="The transaction id (a purchase touching both wallets shows once per wallet)")
    type: str
    amount: Money
    description: str
    referenceType: str
    referenceId: str | None
    createdAt: str

    @classmethod
    def fields_of(cls, listed: ListedEntry) -> dict[str, object]:
        entry, transaction = listed.entry, listed.transaction
        return {
            "id": str(transaction.id),
            "type": "credit" if entry.amount > 0 else "debit",
            "amount": Money.eur(abs(entry.amount)),
            "description": transaction.description,
            "referenceType": transaction.reference_type,
            "referenceId": transaction.reference_id,
            "createdAt": iso_timestamp(entry.created_at),
        }

    @classmethod
    def of(cls, listed: ListedEntry) -> Transaction:
        return cls.model_validate(cls.fields_of(listed))


class OwnTransaction(Transaction):
    walletId: str
    walletType: str

    @classmethod
    def of(cls, listed: ListedEntry) -> OwnTransaction:
        return cls.model_validate(
            {**cls.fields_of(listed), "walletId": str(listed.entry.wallet_id), "walletType": listed.wallet_type}
        )


class OwnTransactions(Body):
    transactions: list[OwnTransaction]
    total: int


class Transactions(Body):
    transactions: list[Transaction]
    total: int


class AdminWallet(Body):
    id: str
    userId: str
    userEmail: str
    userName: str | None
    type: str
    balance: Money
    lastTransactionAt: str | None

    @classmethod
    def of(cls, listed: ListedWallet) -> AdminWallet:
        row = listed.row
        return cls(
            id=str(row.id),
            userId=str(row.user_id),
            userEmail=listed.email,
            userName=listed.user_name,
            type=row.type,
            balance=Money.eur(row.balance),
            lastTransactionAt=iso_timestamp(row.last_transaction_at) if row.last_transaction_at else None,
        )


class AdminWallets(Body):
    wallets: list[AdminWallet]
    total: int


class CreateWalletsBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    userId: str


class WalletsCreated(Body):
    standardId: str
    bonusId: str


class AdjustmentBody(BaseModel):
    """A manual credit or debit. Send an `Idempotency-Key` header: a retry with the same key
    returns the first result; the same key with a different body is 409."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["credit", "debit"]
    amountEuroCents: int = Field(gt=0, le=100_000_000, strict=True)
    reason: str = Field(min_length=1, max_length=1000)
    referenceId: str | None = Field(default=None, max_length=200)
    expiresAt: datetime | None = Field(default=None, description="Bonus credits only: when the credited lot expires")


class AdjustmentMade(Body):
    transactionId: str
    newBalance: Money
