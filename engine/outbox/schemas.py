from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Outbox = Literal["mail", "events"]
OUTBOXES: tuple[Outbox, ...] = ("mail", "events")


class SweepOutboxes(BaseModel):
    # Rows younger than this are left to the hand-off that follows their commit.
    grace_seconds: float = Field(default=60.0, ge=0)
    batch_size: int = Field(default=500, ge=1)


class SweepResult(BaseModel):
    """Rows found stranded and handed in again, per outbox."""

    mail: int = 0
    events: int = 0


class OutboxCursor(BaseModel):
    created_at: datetime
    id: uuid.UUID


class SweepBatch(BaseModel):
    outbox: Outbox
    created_before: datetime
    limit: int
    after: OutboxCursor | None = None


class SweepBatchResult(BaseModel):
    handed_in: int
    # Where the next batch starts; None when this batch was the last.
    next: OutboxCursor | None = None
