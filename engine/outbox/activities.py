"""Activity contracts of the outbox sweeper; the implementation lives in workers/outbox.py."""

from __future__ import annotations

SWEEP_OUTBOX = "outbox.sweep"
