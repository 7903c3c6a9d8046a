"""Tenant-scoped statements of the consumers domain. Flush, never commit."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, or_, select

from engine.db.models import ConsumerRow, User

SORT_COLUMNS: dict[str, Any] = {
    "createdAt": ConsumerRow.created_at,
    "email": User.email,
    "firstName": ConsumerRow.first_name,
    "lastName": ConsumerRow.last_name,
    "active": ConsumerRow.active,
}


def consumers(tenant_id: uuid.UUID) -> Select[ConsumerRow, str]:
    """Live consumers of a tenant with their login e-mail."""
    return (
        select(ConsumerRow, User.email)
        .join(User, User.id == ConsumerRow.user_id)
        .where(ConsumerRow.tenant_id == tenant_id, ConsumerRow.deleted_at.is_(None))
    )


def search(query: Select[ConsumerRow, str], text: str) -> Select[ConsumerRow, str]:
    pattern = f"%{text.strip()}%"
    return query.where(
        or_(
            User.email.ilike(pattern),
            ConsumerRow.first_name.ilike(pattern),
            ConsumerRow.last_name.ilike(pattern),
            ConsumerRow.phone.ilike(pattern),
        )
    )
