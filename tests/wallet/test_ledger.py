"""The pure spending and refund decisions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.wallet.errors import InsufficientFunds
from engine.wallet.ledger import Lot, refund_split, split_spend

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def lot(remaining: int, expires_in_days: int | None, age: int = 0) -> Lot:
    expires = None if expires_in_days is None else NOW + timedelta(days=expires_in_days)
    return Lot(uuid.uuid4(), remaining, expires, NOW - timedelta(days=age))


def test_bonus_first_soonest_expiring_lot_first_then_standard() -> None:
    never, late, soon = lot(100, None), lot(100, 30), lot(50, 2)
    split = split_spend(220, [never, late, soon], standard_available=500, now=NOW)
    assert [(t.lot_id, t.amount) for t in split.lots] == [(soon.id, 50), (late.id, 100), (never.id, 70)]
    assert (split.bonus, split.standard) == (220, 0)
    split = split_spend(300, [late], standard_available=500, now=NOW)
    assert (split.bonus, split.standard) == (100, 200)


def test_expired_lots_are_not_spendable() -> None:
    with pytest.raises(InsufficientFunds):
        split_spend(10, [lot(100, -1)], standard_available=0, now=NOW)


def test_a_spend_beyond_bonus_and_standard_is_refused() -> None:
    with pytest.raises(InsufficientFunds):
        split_spend(301, [lot(100, None)], standard_available=200, now=NOW)


def test_full_refund_reverses_exactly_and_partial_keeps_proportion() -> None:
    assert refund_split(600, 200, 400) == (200, 400)
    assert refund_split(300, 200, 400) == (100, 200)
    assert refund_split(1, 1, 1) == (0, 1)


@given(
    bonus=st.integers(0, 10_000),
    standard=st.integers(0, 10_000),
    data=st.data(),
)
def test_refund_parts_never_exceed_what_is_left(bonus: int, standard: int, data: st.DataObject) -> None:
    if bonus + standard == 0:
        return
    amount = data.draw(st.integers(1, bonus + standard))
    b, s = refund_split(amount, bonus, standard)
    assert b + s == amount
    assert 0 <= b <= bonus and 0 <= s <= standard
