from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, Timestamps, UUIDPk


class DomainEventRow(UUIDPk, Timestamps, Base):
    """The domain event bus's outbox: an event is stored in the emitter's transaction, then
    dispatched (workflow triggers, rules) by a Temporal workflow keyed by the row id."""

    __tablename__ = "domain_events"
    # The outbox sweeper's query: only undispatched rows, which are few, are indexed.
    __table_args__ = (
        Index("ix_domain_events_undispatched", "created_at", "id", postgresql_where=text("dispatched_at IS NULL")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(index=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    name: Mapped[str] = mapped_column(String(255), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True, default=None)
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
