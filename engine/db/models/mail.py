from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, Timestamps, UUIDPk


class MailOutbox(UUIDPk, Timestamps, Base):
    """Mail is written here in the same transaction as the change that causes it, then delivered
    by a Temporal workflow keyed by the row id (so a retry never sends twice)."""

    __tablename__ = "mail_outbox"
    # The outbox sweeper's query: only pending rows, which are few, are indexed.
    __table_args__ = (Index("ix_mail_outbox_pending", "created_at", "id", postgresql_where=text("status = 'PENDING'")),)

    tenant_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="PENDING")  # PENDING | SENT | FAILED
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when a workflow activity queues the mail, so a retried attempt queues it only once.
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True, default=None)
