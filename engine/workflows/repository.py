"""Tenant-scoped reads of the workflows domain: every statement here filters by tenant, so a
caller cannot forget it. Rows (or `(rows, total)` for a page) come back; answers are built by the
response models in `api/schemas/workflows.py`. Flushes, never commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db.models import UserTaskRow, WorkflowDefinitionRow, WorkflowEventRow, WorkflowInstanceRow
from engine.pagination import OffsetParams, PageParams, page_of, sort_order
from engine.workflows.schemas import ACTIVE_STATUSES, TERMINAL_STATUSES

TenantRow = TypeVar("TenantRow", WorkflowDefinitionRow, WorkflowInstanceRow, UserTaskRow)


async def tenant_row(
    session: AsyncSession, tenant_id: uuid.UUID, model: type[TenantRow], row_id: str
) -> TenantRow | None:
    """The tenant's live row with this id, or None (bad id, other tenant, deleted). Read fresh:
    the workflow's projection may have just moved it."""
    try:
        key = uuid.UUID(row_id)
    except ValueError:
        return None
    row = await session.get(model, key, populate_existing=True)
    if row is None or row.tenant_id != tenant_id or getattr(row, "deleted_at", None) is not None:
        return None
    return row


# ---------------------------------------------------------------- definitions


def _live_definitions(tenant_id: uuid.UUID) -> Select[WorkflowDefinitionRow]:
    return select(WorkflowDefinitionRow).where(
        WorkflowDefinitionRow.tenant_id == tenant_id, WorkflowDefinitionRow.deleted_at.is_(None)
    )


async def definitions_page(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    params: OffsetParams,
    *,
    workflow_id: str | None,
    enabled: bool | None,
    search: str | None,
) -> tuple[list[WorkflowDefinitionRow], int]:
    query = _live_definitions(tenant_id)
    if workflow_id:
        query = query.where(WorkflowDefinitionRow.workflow_id == workflow_id)
    if enabled is not None:
        query = query.where(WorkflowDefinitionRow.enabled.is_(enabled))
    if search:
        pattern = f"%{search}%"
        query = query.where(
            or_(WorkflowDefinitionRow.workflow_id.ilike(pattern), WorkflowDefinitionRow.workflow_name.ilike(pattern))
        )
    order = (WorkflowDefinitionRow.workflow_name, WorkflowDefinitionRow.version.desc())
    total, page = await page_of(session, query, params, *order)
    return list(page.scalars()), total


async def definition_version(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: str, version: int | None
) -> WorkflowDefinitionRow | None:
    """That version (enabled or not), or without a version the highest enabled one."""
    query = _live_definitions(tenant_id).where(WorkflowDefinitionRow.workflow_id == workflow_id)
    if version is not None:
        return await session.scalar(query.where(WorkflowDefinitionRow.version == version))
    return await session.scalar(
        query.where(WorkflowDefinitionRow.enabled.is_(True)).order_by(WorkflowDefinitionRow.version.desc()).limit(1)
    )


async def live_definitions(session: AsyncSession, tenant_id: uuid.UUID) -> list[WorkflowDefinitionRow]:
    """The highest enabled, non-deleted version of each workflowId of the tenant."""
    rows = (
        await session.scalars(
            _live_definitions(tenant_id)
            .where(WorkflowDefinitionRow.enabled.is_(True))
            .order_by(WorkflowDefinitionRow.workflow_id, WorkflowDefinitionRow.version.desc())
        )
    ).all()
    latest: dict[str, WorkflowDefinitionRow] = {}
    for row in rows:
        latest.setdefault(row.workflow_id, row)
    return list(latest.values())


# ---------------------------------------------------------------- instances


async def count_active(session: AsyncSession, tenant_id: uuid.UUID, workflow_id: str) -> int:
    """Instances of the workflow that count against a trigger's maxConcurrentInstances."""
    active = await session.scalar(
        select(func.count()).where(
            WorkflowInstanceRow.tenant_id == tenant_id,
            WorkflowInstanceRow.workflow_id == workflow_id,
            WorkflowInstanceRow.status.in_(ACTIVE_STATUSES),
        )
    )
    return int(active or 0)


async def lock_starts(session: AsyncSession, tenant_id: uuid.UUID, workflow_id: str) -> None:
    """Serializes the starts of the tenant's workflow until the transaction ends (an advisory lock)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"workflow-trigger-limit:{tenant_id}:{workflow_id}"},
    )


async def add_instance(
    session: AsyncSession, row: WorkflowInstanceRow, *, tolerate_existing: bool
) -> WorkflowInstanceRow:
    """Inserts a new instance row. `tolerate_existing` (a start that may be retried, with a
    deterministic id): a row already there is kept, and the stored row comes back."""
    if not tolerate_existing:
        session.add(row)
        await session.flush()
        return row
    values = {
        c.key: getattr(row, c.key)
        for c in WorkflowInstanceRow.__mapper__.column_attrs
        if getattr(row, c.key) is not None  # unset: the column defaults apply
    }
    await session.execute(
        pg_insert(WorkflowInstanceRow).values(values).on_conflict_do_nothing(index_elements=[WorkflowInstanceRow.id])
    )
    # The stored row, with its defaults (or the first attempt's row, as it stands now).
    return await session.get(WorkflowInstanceRow, row.id) or row


async def count_unfinished(session: AsyncSession, definition: WorkflowDefinitionRow) -> int:
    """Instances of this definition row that have not reached a terminal status."""
    active = await session.scalar(
        select(func.count()).where(
            WorkflowInstanceRow.tenant_id == definition.tenant_id,
            WorkflowInstanceRow.definition_id == definition.id,
            ~WorkflowInstanceRow.status.in_(TERMINAL_STATUSES),
        )
    )
    return int(active or 0)


@dataclass(frozen=True)
class InstanceFilters:
    workflow_id: str | None = None
    statuses: tuple[str, ...] = ()
    correlation_key: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None


async def instances_page(
    session: AsyncSession, tenant_id: uuid.UUID, params: OffsetParams, filters: InstanceFilters
) -> tuple[list[WorkflowInstanceRow], int]:
    query = select(WorkflowInstanceRow).where(WorkflowInstanceRow.tenant_id == tenant_id)
    if filters.workflow_id:
        query = query.where(WorkflowInstanceRow.workflow_id == filters.workflow_id)
    if filters.statuses:
        query = query.where(WorkflowInstanceRow.status.in_(filters.statuses))
    if filters.correlation_key:
        query = query.where(WorkflowInstanceRow.correlation_key == filters.correlation_key)
    if filters.entity_type:
        query = query.where(WorkflowInstanceRow.metadata_["entityType"].astext == filters.entity_type)
    if filters.entity_id:
        query = query.where(WorkflowInstanceRow.metadata_["entityId"].astext == filters.entity_id)
    total, page = await page_of(session, query, params, WorkflowInstanceRow.created_at.desc())
    return list(page.scalars()), total


async def waiting_instance_ids(session: AsyncSession, tenant_id: uuid.UUID, correlation_key: str) -> list[uuid.UUID]:
    """The tenant's instances with this correlation key that wait (for a signal, or in a fork)."""
    query = select(WorkflowInstanceRow.id).where(
        WorkflowInstanceRow.tenant_id == tenant_id,
        WorkflowInstanceRow.correlation_key == correlation_key,
        WorkflowInstanceRow.status.in_(("PAUSED", "FORKED")),
    )
    return list((await session.scalars(query)).all())


# ---------------------------------------------------------------- events


async def instance_events_page(
    session: AsyncSession, instance: WorkflowInstanceRow, params: OffsetParams, event_type: str | None
) -> tuple[list[WorkflowEventRow], int]:
    """Events of one instance (already read through `tenant_row`), newest first."""
    query = select(WorkflowEventRow).where(
        WorkflowEventRow.tenant_id == instance.tenant_id, WorkflowEventRow.workflow_instance_id == instance.id
    )
    if event_type:
        query = query.where(WorkflowEventRow.event_type == event_type)
    total, page = await page_of(session, query, params, WorkflowEventRow.seq.desc())
    return list(page.scalars()), total


@dataclass(frozen=True)
class EventFilters:
    event_type: str | None = None
    instance_id: uuid.UUID | None = None
    user_id: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    sort_field: str | None = None
    sort_dir: str | None = None


EVENT_SORT = {"occurredAt": WorkflowEventRow.occurred_at, "eventType": WorkflowEventRow.event_type}


async def events_page(
    session: AsyncSession, tenant_id: uuid.UUID, params: PageParams, filters: EventFilters
) -> tuple[list[tuple[WorkflowEventRow, WorkflowInstanceRow]], int]:
    """Events across the tenant's instances, each with its instance."""
    query = (
        select(WorkflowEventRow, WorkflowInstanceRow)
        .join(WorkflowInstanceRow, WorkflowInstanceRow.id == WorkflowEventRow.workflow_instance_id)
        .where(WorkflowEventRow.tenant_id == tenant_id)
    )
    if filters.event_type:
        query = query.where(WorkflowEventRow.event_type == filters.event_type)
    if filters.instance_id:
        query = query.where(WorkflowEventRow.workflow_instance_id == filters.instance_id)
    if filters.user_id:
        query = query.where(WorkflowEventRow.user_id == filters.user_id)
    if filters.occurred_from:
        query = query.where(WorkflowEventRow.occurred_at >= filters.occurred_from)
    if filters.occurred_to:
        query = query.where(WorkflowEventRow.occurred_at <= filters.occurred_to)
    order = sort_order(EVENT_SORT, filters.sort_field, filters.sort_dir, default="occurredAt", default_dir="desc")
    total, page = await page_of(session, query, params, order, WorkflowEventRow.id.desc())
    return [(event, instance) for event, instance in page.all()], total


async def event_with_instance(
    session: AsyncSession, tenant_id: uuid.UUID, event_id: str
) -> tuple[WorkflowEventRow, WorkflowInstanceRow] | None:
    try:
        key = int(event_id)
    except ValueError:
        return None
    event = await session.get(WorkflowEventRow, key)
    if event is None or event.tenant_id != tenant_id:
        return None
    instance = await session.get(WorkflowInstanceRow, event.workflow_instance_id)
    return (event, instance) if instance is not None else None
