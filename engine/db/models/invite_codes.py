from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, UUIDPk, utcnow


class InviteCodeRow(UUIDPk, Base):
    """An invite code. Codes are unique per tenant; `uses` counts redemptions (one row each in
    invite_code_uses), and the conditional update `uses < max_uses` makes racing redeemers safe."""

    __tablename__ = "invite_codes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("uses >= 0 AND uses <= max_uses", name="uses_in_range"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    # Admin-generated codes can be handed to a consumer; consumer codes belong to their creator.
    for_consumer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consumers.id"), default=None)
    by_admin: Mapped[bool] = mapped_column(default=False)
    max_uses: Mapped[int] = mapped_column(default=1)
    uses: Mapped[int] = mapped_column(default=0)
    used_by_consumer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consumers.id"), default=None)
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InviteCodeUseRow(UUIDPk, Base):
    __tablename__ = "invite_code_uses"
    __table_args__ = (UniqueConstraint("code_id", "consumer_id"),)

    code_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invite_codes.id"), index=True)
    consumer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consumers.id"))
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
