"""The API process as `make run` and `covo api` serve it (server/app.py): with
WORKFLOW_EAGER_START each API process hosts a worker on the workflow task queue, sharing the API's
Temporal client, and starts ask Temporal for eager dispatch to it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from engine import metrics
from engine.settings import Settings
from engine.temporal import ids
from server.app import create_app
from tests.conftest import Account
from tests.workflows.conftest import WorkflowApi, chain, step


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        hosted = getattr(app.state, "hosted_worker", None)
        if hosted is not None:  # the worker starts in the background with the first connection
            await app.state.resources.temporal_client()
            assert hosted.starting is not None
            await hosted.starting
            assert hosted.running is not None and not hosted.running.done()
        yield client


def own_queue(settings: Settings, **changes: object) -> Settings:
    """A task queue nobody else polls: whatever runs there ran in the app's own worker."""
    return settings.model_copy(update={"temporal_task_queue": f"hosted-{uuid.uuid4().hex[:8]}", **changes})


async def first_task_worker(temporal: Client, instance_id: str) -> str | None:
    """The identity of the worker that completed the instance's first workflow task."""
    history = await temporal.get_workflow_handle(ids.workflow_instance_id(instance_id)).fetch_history()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return str(event.workflow_task_completed_event_attributes.identity)
    return None


async def test_the_api_process_runs_an_automated_instance_in_its_own_worker(
    settings: Settings, admin: Account, temporal_client: Client
) -> None:
    async with served(own_queue(settings, workflow_eager_start=True)) as client:
        wf = WorkflowApi(client, admin)
        workflow_id, instance = await wf.run(chain("hosted", step("work", "AUTOMATED"), step("more", "AUTOMATED")))
        # Start admission: the answer waited for the instance to settle, so it is already done.
        done = await wf.instance(instance["id"])
        assert done["status"] == "COMPLETED"
        assert [e["eventType"] for e in await wf.events(instance["id"])][-1] == "WORKFLOW_COMPLETED"
    assert (await first_task_worker(temporal_client, instance["id"]) or "").endswith(":api")
    assert metrics.INSTANCES_STARTED_EAGERLY.value(definition=workflow_id) == 1


async def test_a_waiting_instance_goes_on_after_a_signal(settings: Settings, admin: Account) -> None:
    async with served(own_queue(settings, workflow_eager_start=True)) as client:
        wf = WorkflowApi(client, admin)
        document = chain("hosted-wait", step("wait", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "go"}))
        _, instance = await wf.run(document)
        assert (await wf.instance(instance["id"]))["status"] == "PAUSED"
        assert (await wf.signal(instance["id"], "go", {"ok": True})).status_code == 200
        assert (await wf.wait_status(instance["id"], "COMPLETED"))["context"]["ok"] is True


async def test_without_eager_start_the_api_hosts_no_worker(
    settings: Settings, admin: Account, temporal_client: Client
) -> None:
    async with served(own_queue(settings, workflow_eager_start=False, workflow_start_settle_ms=0)) as client:
        wf = WorkflowApi(client, admin)
        workflow_id, instance = await wf.run(chain("not-hosted", step("work", "AUTOMATED")))
        assert (await wf.instance(instance["id"]))["status"] == "RUNNING"
    handle = temporal_client.get_workflow_handle(ids.workflow_instance_id(instance["id"]))
    try:
        assert await first_task_worker(temporal_client, instance["id"]) is None  # nobody polls that queue
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert metrics.INSTANCES_STARTED_EAGERLY.value(definition=workflow_id) == 0
    finally:
        await handle.terminate("test over")
