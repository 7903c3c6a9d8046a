from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from engine.db.models import WorkflowInstanceRow
from engine.settings import Settings
from engine.workflows import service
from tests.conftest import Account
from tests.workflows.conftest import WorkflowApi, shipped


async def test_a_retried_start_with_the_same_instance_id_starts_one_instance(
    wf: WorkflowApi,
    admin: Account,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    settings: Settings,
) -> None:
    """What a retried event dispatch does: the second attempt re-attaches instead of starting twice."""
    definition = await wf.create(shipped("checkout"))
    instance_id = uuid.uuid4()
    for _ in range(2):
        async with sessionmaker() as session, session.begin():
            row = await service.start_instance(
                session, temporal_client, tenant_id=admin.tenant_id, organization_id=admin.organization_id,
                workflow_id=definition["workflowId"], version=None, context={"customerEmail": "x@y.test", "orderId": 1},
                correlation_key=None, metadata={}, initiated_by=str(admin.user_id),
                task_queue=settings.temporal_task_queue, env={}, instance_id=instance_id,
            )  # fmt: skip
            assert row.id == instance_id
    done = await wf.wait_status(str(instance_id), "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED"
    async with sessionmaker() as session:
        count = await session.scalar(select(func.count()).where(WorkflowInstanceRow.id == instance_id))
    assert count == 1
    starts = [e for e in await wf.events(str(instance_id)) if e["eventType"] == "WORKFLOW_STARTED"]
    assert len(starts) == 1


async def test_a_start_retried_with_the_same_idempotency_key_starts_one_instance(
    wf: WorkflowApi, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """What a client does when the API died before answering: send the same start again."""
    definition = await wf.create(shipped("checkout"))
    body = {"workflowId": definition["workflowId"], "initialContext": {"customerEmail": "x@y.test", "orderId": 7}}
    headers = {**admin.headers, "Idempotency-Key": f"order-7-{uuid.uuid4().hex[:6]}"}
    answers = [await wf.client.post("/api/workflows/instances", json=body, headers=headers) for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201]
    first, second = (a.json()["data"]["instance"]["id"] for a in answers)
    assert first == second
    other = await wf.client.post("/api/workflows/instances", json=body, headers=admin.headers)
    assert other.json()["data"]["instance"]["id"] != first
    done = await wf.wait_status(first, "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED"
    async with sessionmaker() as session:
        count = await session.scalar(select(func.count()).where(WorkflowInstanceRow.id == uuid.UUID(first)))
    assert count == 1
