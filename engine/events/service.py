"""The domain event bus: events are stored (outbox) in the emitter's transaction and dispatched
by a Temporal workflow per event."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from engine.db.models import DomainEventRow
from engine.events.schemas import DispatchEvent
from engine.events.workflows import DomainEventDispatchWorkflow


async def store(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    name: str,
    payload: dict[str, Any],
    idempotency_key: str | None = None,
) -> uuid.UUID:
    """Stores the event (once per idempotency key) and returns its id."""
    statement = (
        insert(DomainEventRow)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            organization_id=organization_id,
            name=name,
            payload=payload,
            idempotency_key=idempotency_key,
        )
        .on_conflict_do_nothing(index_elements=[DomainEventRow.idempotency_key])
        .returning(DomainEventRow.id)
    )
    event_id = (await session.execute(statement)).scalar_one_or_none()
    if event_id is None:
        event_id = await session.scalar(
            select(DomainEventRow.id).where(DomainEventRow.idempotency_key == idempotency_key)
        )
    assert event_id is not None
    return event_id


async def dispatch(client: Client, event_id: uuid.UUID, task_queue: str) -> None:
    try:
        await client.start_workflow(
            DomainEventDispatchWorkflow.run,
            DispatchEvent(event_id=event_id),
            id=f"event-{event_id}",
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass
