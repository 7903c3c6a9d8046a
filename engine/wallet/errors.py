from __future__ import annotations

from engine.errors import Conflict, NotFound, Unprocessable


class InsufficientFunds(Unprocessable):
    code = "insufficient_funds"

    def __init__(self) -> None:
        super().__init__("Insufficient funds")


class WalletNotFound(NotFound):
    code = "wallet_not_found"

    def __init__(self) -> None:
        super().__init__("Wallet not found")


class IdempotencyKeyReused(Conflict):
    """The same idempotency key came with a different request."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("Idempotency-Key was already used with a different request")


class HoldStateConflict(Conflict):
    code = "hold_state"
