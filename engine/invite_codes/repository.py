"""Tenant-scoped statements of invite codes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import aliased

from engine.db.models import ConsumerRow, InviteCodeRow, User

SORT_COLUMNS: dict[str, Any] = {
    "createdAt": InviteCodeRow.created_at,
    "expiresAt": InviteCodeRow.expires_at,
    "usedAt": InviteCodeRow.used_at,
    "code": InviteCodeRow.code,
}


def status_of(now: datetime) -> ColumnElement[str]:
    """available | used | expired | revoked, computed in SQL (so lists can filter on it)."""
    return case(
        (InviteCodeRow.revoked_at.is_not(None), literal("revoked")),
        (InviteCodeRow.uses >= InviteCodeRow.max_uses, literal("used")),
        (and_(InviteCodeRow.expires_at.is_not(None), InviteCodeRow.expires_at <= now), literal("expired")),
        else_=literal("available"),
    )


def usable(now: datetime) -> ColumnElement[bool]:
    return and_(
        InviteCodeRow.revoked_at.is_(None),
        InviteCodeRow.uses < InviteCodeRow.max_uses,
        or_(InviteCodeRow.expires_at.is_(None), InviteCodeRow.expires_at > now),
    )


Creator = aliased(User)
RedeemerProfile = aliased(ConsumerRow)
RedeemerUser = aliased(User)


def admin_listing(tenant_id: uuid.UUID, now: datetime) -> Select[Any]:
    """Codes of a tenant with creator and redeemer (their e-mails and names)."""
    redeemer_name = func.nullif(func.concat_ws(" ", RedeemerProfile.first_name, RedeemerProfile.last_name), "")
    return (
        select(
            InviteCodeRow,
            status_of(now).label("status"),
            Creator.email.label("creator_email"),
            Creator.name.label("creator_name"),
            RedeemerUser.email.label("redeemer_email"),
            redeemer_name.label("redeemer_name"),
        )
        .outerjoin(Creator, Creator.id == InviteCodeRow.created_by_user_id)
        .outerjoin(RedeemerProfile, RedeemerProfile.id == InviteCodeRow.used_by_consumer_id)
        .outerjoin(RedeemerUser, RedeemerUser.id == RedeemerProfile.user_id)
        .where(InviteCodeRow.tenant_id == tenant_id)
    )
