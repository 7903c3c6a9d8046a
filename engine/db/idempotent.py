"""Rows written once per idempotency key (outbox rows created by retried activities)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_once(session: AsyncSession, model: Any, values: dict[str, Any]) -> uuid.UUID:
    """Inserts `values` unless a row with the same `idempotency_key` exists; returns the id of
    whichever row holds the key. Without a key it always inserts."""
    values = {"id": uuid.uuid4(), **values}
    statement = (
        insert(model).values(values).on_conflict_do_nothing(index_elements=[model.idempotency_key]).returning(model.id)
    )
    row_id = (await session.execute(statement)).scalar_one_or_none()
    if row_id is None:
        row_id = await session.scalar(select(model.id).where(model.idempotency_key == values["idempotency_key"]))
    assert row_id is not None
    return uuid.UUID(str(row_id))
