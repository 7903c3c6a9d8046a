"""Pure ledger decisions, unit-tested without a database: how a spend splits over bonus lots and
the standard wallet, how a refund reverses a split, and the request fingerprint behind
idempotency keys."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.wallet.errors import InsufficientFunds

STANDARD = "standard"
BONUS = "bonus"
WALLET_TYPES = (STANDARD, BONUS)

# System accounts: the other side of every transaction on a user wallet.
ADMIN_ADJUSTMENTS = "admin_adjustments"
PROMOTIONS = "promotions"
SALES = "sales"
REFUNDS = "refunds"
SYSTEM_ACCOUNTS = (ADMIN_ADJUSTMENTS, PROMOTIONS, SALES, REFUNDS)


@dataclass(frozen=True)
class Lot:
    id: uuid.UUID
    remaining: int
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class LotTake:
    lot_id: uuid.UUID
    amount: int
    expires_at: datetime | None


@dataclass(frozen=True)
class Split:
    """How much of a spend comes from each bonus lot (in spending order) and from standard."""

    lots: tuple[LotTake, ...]
    standard: int

    @property
    def bonus(self) -> int:
        return sum(take.amount for take in self.lots)


def spending_order(lots: list[Lot], now: datetime) -> list[Lot]:
    """Usable lots, soonest-expiring first (no expiry last), then oldest first."""
    usable = [lot for lot in lots if lot.remaining > 0 and (lot.expires_at is None or lot.expires_at > now)]
    return sorted(usable, key=lambda lot: (lot.expires_at is None, lot.expires_at or now, lot.created_at, lot.id))


def split_spend(amount: int, lots: list[Lot], standard_available: int, now: datetime) -> Split:
    """Bonus first (lot by lot), then standard; refuses a spend beyond what is available."""
    if amount <= 0:
        raise ValueError("amount must be positive")
    takes: list[LotTake] = []
    left = amount
    for lot in spending_order(lots, now):
        if left == 0:
            break
        take = min(left, lot.remaining)
        takes.append(LotTake(lot.id, take, lot.expires_at))
        left -= take
    if left > max(standard_available, 0):
        raise InsufficientFunds()
    return Split(tuple(takes), left)


def take_from_lots(amount: int, lots: list[Lot], now: datetime) -> tuple[LotTake, ...]:
    """A debit of the bonus wallet alone, spread over its lots in spending order."""
    split = split_spend(amount, lots, 0, now)
    return split.lots


def refund_split(amount: int, bonus_left: int, standard_left: int) -> tuple[int, int]:
    """(bonus, standard) parts of a refund of `amount`, given what of the original purchase is still
    unrefunded on each wallet: the full rest reverses the split exactly, a partial refund goes back
    in the original proportion (rounding in the consumer's favour: the odd cent goes to standard)."""
    total = bonus_left + standard_left
    if amount <= 0 or amount > total:
        raise ValueError("refund amount must be positive and at most what is left to refund")
    if amount == total:
        return bonus_left, standard_left
    bonus = amount * bonus_left // total
    standard = amount - bonus
    if standard > standard_left:  # only possible through rounding; keep both parts within their rest
        bonus, standard = amount - standard_left, standard_left
    return bonus, standard


def request_hash(payload: dict[str, Any]) -> str:
    """A stable fingerprint of a request body, stored with its idempotency key."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
