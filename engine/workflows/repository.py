"""Tenant-scoped reads of the workflows domain: every statement here filters by tenant, so a
caller cannot forget it. Flushes, never commits."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db.models import WorkflowDefinitionRow, WorkflowInstanceRow
from engine.workflows.schemas import ACTIVE_STATUSES


async def live_definitions(session: AsyncSession, tenant_id: uuid.UUID) -> list[WorkflowDefinitionRow]:
    """The highest enabled, non-deleted version of each workflowId of the tenant."""
    rows = (
        await session.scalars(
            select(WorkflowDefinitionRow)
            .where(
                WorkflowDefinitionRow.tenant_id == tenant_id,
                WorkflowDefinitionRow.deleted_at.is_(None),
                WorkflowDefinitionRow.enabled.is_(True),
            )
            .order_by(WorkflowDefinitionRow.workflow_id, WorkflowDefinitionRow.version.desc())
        )
    ).all()
    latest: dict[str, WorkflowDefinitionRow] = {}
    for row in rows:
        latest.setdefault(row.workflow_id, row)
    return list(latest.values())


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
