"""The domain event bus: events are stored (outbox) in the emitter's transaction and dispatched
by a Temporal workflow per event."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from engine.db.idempotent import insert_once
from engine.db.models import DomainEventRow
from engine.events.schemas import DispatchEvent
from engine.events.workflows import DomainEventDispatchWorkflow
from engine.temporal import ids


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
    return await insert_once(
        session,
        DomainEventRow,
        {
            "tenant_id": tenant_id,
            "organization_id": organization_id,
            "name": name,
            "payload": payload,
            "idempotency_key": idempotency_key,
        },
    )


async def dispatch(client: Client, event_id: uuid.UUID, task_queue: str) -> None:
    """Starts the event's dispatch workflow; its id `event-<id>` makes a second hand-in a no-op."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            DomainEventDispatchWorkflow.run,
            DispatchEvent(event_id=event_id),
            id=ids.event_dispatch_id(event_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )


async def emit(
    session: AsyncSession,
    client: Client,
    *,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    name: str,
    payload: dict[str, Any],
    task_queue: str,
    idempotency_key: str | None = None,
) -> uuid.UUID:
    """Publishes a domain event from API or service code: stored in the caller's transaction
    (the outbox) and handed to its dispatch workflow at once. The dispatcher retries until the
    caller's commit makes the row visible, so call this inside the transaction that makes the
    change the event announces; if that transaction rolls back, the event never dispatches.

    Put the acting user in `payload["userId"]`: instances started by the event act for them."""
    event_id = await store(
        session,
        tenant_id=tenant_id,
        organization_id=organization_id,
        name=name,
        payload=payload,
        idempotency_key=idempotency_key,
    )
    await session.flush()
    await dispatch(client, event_id, task_queue)
    return event_id
