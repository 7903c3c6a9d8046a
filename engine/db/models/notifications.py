"""Notifications: messages for one user each (task assigned, claimed, escalated, SLA breached;
the business rules' NOTIFY action; created through the API), each user's notification settings,
the live-event log that feeds `GET /events/stream` (written by database triggers, announced
with `pg_notify`, so every API process sees every change whoever wrote it), and the single-use
tickets that open that stream."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, Timestamps, UUIDPk, utcnow


class NotificationRow(UUIDPk, Base):
    """A message for one recipient. `recipient_user_id` names the user who sees it; `recipient`
    keeps the NOTIFY action's spelling (a user id, e-mail or role name) for rows no user
    matched. `dedupe_key` makes a retried write (a replayed projection) a no-op."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_tenant_recipient", "tenant_id", "recipient"),
        Index("ix_notifications_user_status_created", "tenant_id", "recipient_user_id", "status", "created_at"),
        UniqueConstraint("tenant_id", "dedupe_key"),
    )

    tenant_id: Mapped[uuid.UUID]
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    recipient: Mapped[str] = mapped_column(String(320))
    recipient_user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    type: Mapped[str] = mapped_column(String(100), default="generic", server_default="generic")
    subject: Mapped[str | None] = mapped_column(String(500), default=None)  # the title
    message: Mapped[str] = mapped_column(Text)  # the body
    title_key: Mapped[str | None] = mapped_column(String(200), default=None)
    body_key: Mapped[str | None] = mapped_column(String(200), default=None)
    title_variables: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    body_variables: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    icon: Mapped[str | None] = mapped_column(String(100), default=None)
    severity: Mapped[str] = mapped_column(String(20), default="info", server_default="info")
    status: Mapped[str] = mapped_column(String(20), default="unread", server_default="unread")
    actions: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'::jsonb"))
    template: Mapped[str | None] = mapped_column(String(200), default=None)
    source_type: Mapped[str] = mapped_column(String(50), default="business_rule")
    source_id: Mapped[str | None] = mapped_column(String(100), default=None)
    source_module: Mapped[str | None] = mapped_column(String(100), default=None)
    source_entity_type: Mapped[str | None] = mapped_column(String(100), default=None)
    source_entity_id: Mapped[str | None] = mapped_column(String(100), default=None)
    link_href: Mapped[str | None] = mapped_column(String(500), default=None)
    data: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    dismissed_at: Mapped[datetime | None] = mapped_column(default=None)
    action_taken: Mapped[str | None] = mapped_column(String(100), default=None)
    action_taken_at: Mapped[datetime | None] = mapped_column(default=None)
    dedupe_key: Mapped[str | None] = mapped_column(String(300), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class NotificationSettingsRow(UUIDPk, Timestamps, Base):
    """One user's choices: `disabledTypes` are not delivered at all, `emailTypes` (or `*`) also
    go out by e-mail through the mail outbox."""

    __tablename__ = "notification_settings"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    tenant_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LiveEventRow(Base):
    """What `GET /events/stream` sends, in one ordered id space (the SSE event id), written by
    triggers on `notifications` and `workflow_events`. Kept for a short window so a client that
    reconnects with `Last-Event-ID` misses nothing."""

    __tablename__ = "live_events"
    __table_args__ = (Index("ix_live_events_created", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(50))
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # a notification's recipient
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class StreamTicketRow(Base):
    """A single-use, short-lived ticket that opens `GET /events/stream?ticket=` for one user of one
    tenant (browsers' EventSource cannot send an Authorization header, and a bearer token in a URL
    ends up in proxy logs). Only the SHA-256 of the ticket is stored; redeeming deletes the row."""

    __tablename__ = "stream_tickets"
    __table_args__ = (Index("ix_stream_tickets_expires", "expires_at"),)

    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    # The sign-in session the ticket was asked with: a ticket of a revoked session opens nothing.
    session_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
