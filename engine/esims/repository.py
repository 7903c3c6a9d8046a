"""eSIM statements. Reads are tenant-scoped; writes flush, never commit. A status change is one
conditional `UPDATE ... WHERE status = ANY(:allowed)` (the state machine's sources) plus an event
row, and a webhook applied twice is a no-op through the event row's unique source id."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db.base import utcnow
from engine.db.models import EsimEventRow, EsimRow, EsimUsageDayRow, OneGlobalWebhookRow
from engine.esims.state_machine import Transition, allowed_from, target


def in_tenant(tenant_id: uuid.UUID) -> Select[Any]:
    return select(EsimRow).where(EsimRow.tenant_id == tenant_id)


async def get(session: AsyncSession, tenant_id: uuid.UUID, esim_id: uuid.UUID) -> EsimRow | None:
    row: EsimRow | None = await session.scalar(in_tenant(tenant_id).where(EsimRow.id == esim_id))
    return row


async def record_event(
    session: AsyncSession,
    esim_id: uuid.UUID,
    kind: str,
    *,
    from_status: str | None,
    to_status: str | None,
    applied: bool,
    source: str,
    source_event_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Inserts the event row; False when this source event was recorded before (a redelivery)."""
    statement = (
        insert(EsimEventRow)
        .values(
            id=uuid.uuid4(),
            esim_id=esim_id,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            applied=applied,
            source=source,
            source_event_id=source_event_id,
            detail=detail or {},
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[EsimEventRow.esim_id, EsimEventRow.source_event_id])
        .returning(EsimEventRow.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def transition(
    session: AsyncSession,
    esim_id: uuid.UUID,
    move: Transition,
    *,
    source: str,
    source_event_id: str | None = None,
    values: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> tuple[str, bool]:
    """Moves the eSIM forward if its status allows `move` (one conditional UPDATE) and records
    what happened either way. Returns (status now, whether it moved)."""
    current = await session.scalar(select(EsimRow.status).where(EsimRow.id == esim_id))
    if current is None:
        return "missing", False
    if source_event_id is not None and await seen(session, esim_id, source_event_id):
        return current, False  # a redelivered webhook: applied (or ignored) before
    to = target(move)
    moved_to = await session.scalar(
        update(EsimRow)
        .where(EsimRow.id == esim_id, EsimRow.status == func.any(list(allowed_from(move))))
        .values(status=to.value, updated_at=utcnow(), **(values or {}))
        .returning(EsimRow.status)
        .execution_options(synchronize_session=False)
    )
    moved = moved_to is not None
    await record_event(
        session,
        esim_id,
        move.value,
        from_status=current,
        to_status=to.value if moved else current,
        applied=moved,
        source=source,
        source_event_id=source_event_id,
        detail=detail,
    )
    return (to.value if moved else current), moved


async def seen(session: AsyncSession, esim_id: uuid.UUID, source_event_id: str) -> bool:
    found = await session.scalar(
        select(EsimEventRow.id).where(EsimEventRow.esim_id == esim_id, EsimEventRow.source_event_id == source_event_id)
    )
    return found is not None


async def set_values(session: AsyncSession, esim_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(EsimRow)
        .where(EsimRow.id == esim_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )


async def snapshot_usage(
    session: AsyncSession, esim_id: uuid.UUID, day: date, used_bytes: int, *, authoritative: bool = False
) -> None:
    """The cumulative bytes used by the end of `day`: webhooks keep the highest value seen, the
    usage sync (itemised, authoritative) replaces it."""
    statement = insert(EsimUsageDayRow).values(esim_id=esim_id, day=day, used_bytes=used_bytes)
    value = (
        statement.excluded.used_bytes
        if authoritative
        else func.greatest(EsimUsageDayRow.used_bytes, statement.excluded.used_bytes)
    )
    await session.execute(
        statement.on_conflict_do_update(index_elements=["esim_id", "day"], set_={"used_bytes": value})
    )


async def usage_days(session: AsyncSession, esim_id: uuid.UUID, first: date, last: date) -> dict[date, int]:
    rows = await session.execute(
        select(EsimUsageDayRow.day, EsimUsageDayRow.used_bytes).where(
            EsimUsageDayRow.esim_id == esim_id, EsimUsageDayRow.day >= first, EsimUsageDayRow.day <= last
        )
    )
    return {day: int(used) for day, used in rows.all()}


async def store_webhook(
    session: AsyncSession, event_id: str, kind: str, normalized: str, payload: dict[str, Any]
) -> tuple[uuid.UUID, bool, datetime | None, uuid.UUID | None]:
    """Stores the raw event once. Returns (row id, fresh, signalled_at, esim id)."""
    row_id = await session.scalar(
        insert(OneGlobalWebhookRow)
        .values(
            id=uuid.uuid4(),
            event_id=event_id,
            type=kind[:100],
            normalized_type=normalized[:100],
            payload=payload,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[OneGlobalWebhookRow.event_id])
        .returning(OneGlobalWebhookRow.id)
    )
    if row_id is not None:
        return row_id, True, None, None
    known = (
        await session.execute(
            select(OneGlobalWebhookRow.id, OneGlobalWebhookRow.signalled_at, OneGlobalWebhookRow.esim_id).where(
                OneGlobalWebhookRow.event_id == event_id
            )
        )
    ).one()
    return known[0], False, known[1], known[2]


async def esim_for_vendor_keys(
    session: AsyncSession, *, order_id: str | None, subscription_id: str | None, iccid: str | None
) -> uuid.UUID | None:
    clauses = []
    if order_id:
        clauses.append(EsimRow.one_global_order_id == order_id)
    if subscription_id:
        clauses.append(EsimRow.one_global_subscription_id == subscription_id)
    if iccid:
        clauses.append(EsimRow.iccid == iccid)
    if not clauses:
        return None
    found: uuid.UUID | None = await session.scalar(
        select(EsimRow.id).where(or_(*clauses)).order_by(EsimRow.created_at.desc()).limit(1)
    )
    return found


async def mark_webhook(session: AsyncSession, row_id: uuid.UUID, esim_id: uuid.UUID | None, signalled: bool) -> None:
    values: dict[str, Any] = {"esim_id": esim_id}
    if signalled:
        values["signalled_at"] = utcnow()
    await session.execute(update(OneGlobalWebhookRow).where(OneGlobalWebhookRow.id == row_id).values(**values))


async def claim_unassigned_webhooks(
    session: AsyncSession, esim_id: uuid.UUID, subscription_id: str | None, iccid: str | None
) -> list[OneGlobalWebhookRow]:
    """Lifecycle webhooks that arrived before the eSIM had its ICCID / subscription id (so could
    not be matched then) are given to it now, oldest first."""
    keys = []
    if subscription_id:
        keys.append(OneGlobalWebhookRow.payload["subscription_id"].astext == subscription_id)
    if iccid:
        keys.append(OneGlobalWebhookRow.payload["iccid"].astext == iccid)
    if not keys:
        return []
    rows = list(
        await session.scalars(
            select(OneGlobalWebhookRow)
            .where(OneGlobalWebhookRow.esim_id.is_(None), or_(*keys))
            .order_by(OneGlobalWebhookRow.received_at)
            .with_for_update(skip_locked=True)
        )
    )
    for row in rows:
        row.esim_id = esim_id
    return rows
