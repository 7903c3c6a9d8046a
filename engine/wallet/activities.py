"""Activity contracts of the wallet domain; implementations live in workers/wallet.py."""

from __future__ import annotations

ADJUST = "wallet.adjust"
