from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, Timestamps, UUIDPk


class ConsumerRow(UUIDPk, Timestamps, Base):
    """A consumer's profile: the Covo-specific fields of a user holding the `consumer` role."""

    __tablename__ = "consumers"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(200), default=None)
    last_name: Mapped[str | None] = mapped_column(String(200), default=None)
    phone: Mapped[str | None] = mapped_column(String(50), default=None)
    language_code: Mapped[str | None] = mapped_column(String(10), default=None)
    display_currency: Mapped[str | None] = mapped_column(String(3), default=None)
    home_country_code: Mapped[str | None] = mapped_column(String(2), default=None)
    travel_profile: Mapped[Any | None] = mapped_column(JSONB, default=None)
    address: Mapped[Any | None] = mapped_column(JSONB, default=None)
    active: Mapped[bool] = mapped_column(default=True)
    # Social sign-in: the provider and its subject, so a returning user is found again.
    social_provider: Mapped[str | None] = mapped_column(String(40), default=None)
    social_subject: Mapped[str | None] = mapped_column(String(300), default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
