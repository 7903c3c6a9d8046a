from __future__ import annotations

import contextlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from engine.db.idempotent import insert_once
from engine.db.models import MailOutbox
from engine.mail.schemas import DeliverMailInput
from engine.mail.workflows import MailDeliveryWorkflow
from engine.temporal.ids import mail_delivery_id


async def enqueue(
    session: AsyncSession, *, recipient: str, subject: str, body: str, tenant_id: uuid.UUID | None
) -> MailOutbox:
    """Writes the mail in the caller's transaction; `dispatch` hands it to Temporal after commit."""
    row = MailOutbox(id=uuid.uuid4(), tenant_id=tenant_id, recipient=recipient, subject=subject, body=body)
    session.add(row)
    await session.flush()
    return row


async def enqueue_once(
    session: AsyncSession, *, recipient: str, subject: str, body: str, tenant_id: uuid.UUID | None, idempotency_key: str
) -> uuid.UUID:
    """Like `enqueue`, but a second call with the same key returns the first row's id."""
    return await insert_once(
        session,
        MailOutbox,
        {
            "tenant_id": tenant_id,
            "recipient": recipient,
            "subject": subject,
            "body": body,
            "idempotency_key": idempotency_key,
        },
    )


async def dispatch(client: Client, outbox_id: uuid.UUID, task_queue: str) -> None:
    with contextlib.suppress(WorkflowAlreadyStartedError):  # already on its way
        await client.start_workflow(
            MailDeliveryWorkflow.run,
            DeliverMailInput(outbox_id=outbox_id),
            id=mail_delivery_id(outbox_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
