"""eSIMs (the read model written by each eSIM's `ProvisionEsim` workflow), their lifecycle events,
the raw 1Global webhooks (stored before anything else, de-duplicated on the vendor's event id) and
daily usage snapshots for the 7-day timeline."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, Timestamps, UUIDPk


class EsimRow(UUIDPk, Timestamps, Base):
    __tablename__ = "esims"
    __table_args__ = (
        Index("ix_esims_tenant_created", "tenant_id", "created_at"),
        Index("ix_esims_tenant_user", "tenant_id", "user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    consumer_profile_id: Mapped[uuid.UUID] = mapped_column(index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the owner (consumer's user)
    consumer_email: Mapped[str | None] = mapped_column(String(320), default=None)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30), default="pending")
    product_offering_id: Mapped[str] = mapped_column(String(100))
    price_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    hold_id: Mapped[str | None] = mapped_column(String(100), default=None)
    iccid: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    eid: Mapped[str | None] = mapped_column(String(64), default=None)
    matching_id: Mapped[str | None] = mapped_column(String(100), default=None)
    activation_code: Mapped[str | None] = mapped_column(String(300), default=None)
    qr_code_url: Mapped[str | None] = mapped_column(Text, default=None)
    one_global_subscriber_id: Mapped[str | None] = mapped_column(String(100), default=None)
    one_global_order_id: Mapped[str | None] = mapped_column(String(100), unique=True, default=None)
    one_global_subscription_id: Mapped[str | None] = mapped_column(String(100), unique=True, default=None)
    phone_number: Mapped[str | None] = mapped_column(String(40), default=None)
    country_code: Mapped[str | None] = mapped_column(String(8), default=None)
    used_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    data_limit_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    activated_at: Mapped[datetime | None] = mapped_column(default=None)
    home_zone_disabled: Mapped[bool] = mapped_column(default=False)
    is_throttled: Mapped[bool] = mapped_column(default=False)
    install_error: Mapped[str | None] = mapped_column(Text, default=None)
    failure_reason: Mapped[str | None] = mapped_column(Text, default=None)


class EsimEventRow(UUIDPk, Base):
    """One row per thing that happened to an eSIM: a transition, or an event ignored because it
    would not move the status forward. `source_event_id` makes a redelivered webhook a no-op."""

    __tablename__ = "esim_events"
    __table_args__ = (UniqueConstraint("esim_id", "source_event_id"),)

    esim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("esims.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(50))  # the transition or webhook type
    from_status: Mapped[str | None] = mapped_column(String(30), default=None)
    to_status: Mapped[str | None] = mapped_column(String(30), default=None)
    applied: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(30), default="workflow")  # workflow | webhook | poll | sync
    source_event_id: Mapped[str | None] = mapped_column(String(200), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class OneGlobalWebhookRow(UUIDPk, Base):
    """Every 1Global webhook as received (unknown types too), stored before it is acted on."""

    __tablename__ = "oneglobal_webhooks"
    # The sweep's query: only events not handed over yet, which are few, are indexed.
    __table_args__ = (
        Index("ix_oneglobal_webhooks_unsignalled", "received_at", postgresql_where=text("signalled_at IS NULL")),
    )

    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    normalized_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column()
    esim_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    received_at: Mapped[datetime]
    signalled_at: Mapped[datetime | None] = mapped_column(default=None)


class EsimUsageDayRow(Base):
    """Cumulative bytes used by the end of a day (the highest value seen that day, from webhooks
    and the usage sync); the timeline's daily usage is the difference between days."""

    __tablename__ = "esim_usage_days"

    esim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("esims.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    used_bytes: Mapped[int] = mapped_column(BigInteger)


class EsimPriceRow(Base):
    """What a tenant charges for an eSIM of a 1Global product offering (euro cents). Without a
    row the eSIM is free; with one, provisioning holds the price on the consumer's wallet first,
    posts it when the eSIM is ready and voids it when provisioning fails."""

    __tablename__ = "esim_prices"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    product_offering_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    price_cents: Mapped[int] = mapped_column(BigInteger)
