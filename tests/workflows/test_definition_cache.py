"""Each API process serves the definition an instance starts from out of a short-lived cache
(`Caches.workflows`, engine/invalidation.py). An edit, a disable or a delete still reaches the
very next start: at once in the process that made it (its commit drops the cache), through
NOTIFY in every other process, and after AUTH_CACHE_TTL_SECONDS (1 s) even if a notification
were lost.

`other` stands for a second API process whose entries would live a minute, so only its own
commits or a NOTIFY can drop them. A started instance shows which definition it started from:
its `version`, `definitionId` and its START step's id (`currentStepId`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.worker import Worker

from engine.db.models import WorkflowDefinitionRow
from engine.settings import Settings
from tests.conftest import Account, MakeAccount
from tests.helpers import ApiProcess, api_process
from tests.workflows.conftest import WorkflowApi, step, tr

INSTANCES = "/api/workflows/instances"


@pytest.fixture
async def other(settings: Settings, worker: Worker) -> AsyncIterator[ApiProcess]:
    # model_copy skips validation: the setting is capped at 1 s, a test wants it long.
    async for process in api_process(settings.model_copy(update={"auth_cache_ttl_seconds": 60.0})):
        yield process


def document(workflow_id: str, start_id: str = "start") -> dict[str, Any]:
    """START (named `start_id`) -> END."""
    return {
        "workflowId": workflow_id,
        "workflowName": workflow_id,
        "definition": {"steps": [step(start_id, "START"), step("end", "END")], "transitions": [tr(start_id, "end")]},
    }


async def start(process: ApiProcess, account: Account, workflow_id: str, **body: Any) -> httpx.Response:
    return await process.client.post(INSTANCES, json={"workflowId": workflow_id, **body}, headers=account.headers)


async def started_from(process: ApiProcess, account: Account, workflow_id: str, **body: Any) -> str:
    """The START step id of a newly started instance."""
    response = await start(process, account, workflow_id, **body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["instance"]["currentStepId"])


async def answer(process: ApiProcess, account: Account, workflow_id: str, **body: Any) -> tuple[int, str]:
    """(201, the START step id of the new instance), or the refusal: (status, error)."""
    response = await start(process, account, workflow_id, **body)
    if response.status_code == 201:
        return 201, str(response.json()["data"]["instance"]["currentStepId"])
    return response.status_code, str(response.json()["error"])


async def cached_on(process: ApiProcess, account: Account, workflow_id: str, version: int | None = None) -> str:
    """Starts until the process keeps the definition (the NOTIFY of its creation may still be on
    its way and drop the first entry); the START step id the starts saw."""
    for _ in range(50):
        seen = await started_from(process, account, workflow_id, **({"version": version} if version else {}))
        await asyncio.sleep(0.1)
        if process.caches.workflows.get((account.tenant_id, workflow_id, version)) is not None:
            return seen
    raise AssertionError("the definition was never kept")


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the other process never saw the change")


async def finish_instances(wf: WorkflowApi, workflow_id: str) -> None:
    """A definition with unfinished instances cannot be deleted: wait until they are done."""
    for _ in range(400):
        response = await wf.get(INSTANCES, workflowId=workflow_id, status="RUNNING")
        if response.json()["pagination"]["total"] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("instances never finished")


async def test_the_process_that_changes_a_definition_starts_from_the_change_at_once(
    other: ApiProcess, admin: Account
) -> None:
    wf = WorkflowApi(other.client, admin)
    created = await wf.create(document("cached"))
    workflow_id, path = created["workflowId"], f"/api/workflows/definitions/{created['id']}"
    named = f"Workflow definition '{workflow_id}'"
    assert await cached_on(other, admin, workflow_id) == "start"
    assert await cached_on(other, admin, workflow_id, 1) == "start"

    assert (await wf.put(path, {"definition": document(workflow_id, "begin")["definition"]})).status_code == 200
    assert await started_from(other, admin, workflow_id) == "begin"
    assert await started_from(other, admin, workflow_id, version=1) == "begin"

    assert (await wf.put(path, {"enabled": False})).status_code == 200
    assert await answer(other, admin, workflow_id, version=1) == (400, f"{named} version 1 is disabled")
    assert await answer(other, admin, workflow_id) == (404, f"{named} not found")

    assert (await wf.put(path, {"enabled": True})).status_code == 200
    assert await cached_on(other, admin, workflow_id, 1) == "begin"
    await finish_instances(wf, workflow_id)
    assert (await wf.delete(path)).status_code == 200
    assert await answer(other, admin, workflow_id, version=1) == (404, f"{named} version 1 not found")
    assert await answer(other, admin, workflow_id) == (404, f"{named} not found")


async def _edit(wf: WorkflowApi, created: dict[str, Any]) -> httpx.Response:
    return await wf.put(
        f"/api/workflows/definitions/{created['id']}",
        {"definition": document(created["workflowId"], "begin")["definition"]},
    )


async def _disable(wf: WorkflowApi, created: dict[str, Any]) -> httpx.Response:
    return await wf.put(f"/api/workflows/definitions/{created['id']}", {"enabled": False})


async def _delete(wf: WorkflowApi, created: dict[str, Any]) -> httpx.Response:
    await finish_instances(wf, created["workflowId"])
    return await wf.delete(f"/api/workflows/definitions/{created['id']}")


@pytest.mark.parametrize(
    ("change", "expected"),
    [(_edit, (201, "begin")), (_disable, (400, "version 1 is disabled")), (_delete, (404, "version 1 not found"))],
    ids=["edited", "disabled", "deleted"],
)
async def test_another_process_starts_from_the_change(
    client: httpx.AsyncClient,
    other: ApiProcess,
    admin: Account,
    change: Callable[[WorkflowApi, dict[str, Any]], Awaitable[httpx.Response]],
    expected: tuple[int, str],
) -> None:
    wf = WorkflowApi(client, admin)
    created = await wf.create(document("shared"))
    workflow_id = created["workflowId"]
    assert await cached_on(other, admin, workflow_id, 1) == "start"
    assert (await change(wf, created)).status_code == 200

    status, seen = expected
    if status != 201:
        seen = f"Workflow definition '{workflow_id}' {seen}"

    async def answered() -> bool:
        return await answer(other, admin, workflow_id, version=1) == (status, seen)

    await eventually(answered)


async def test_without_a_notification_a_change_waits_one_ttl_at_most(
    settings: Settings, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession], admin: Account
) -> None:
    """The bound holds even if the NOTIFY were lost: the definition is disabled with triggers off."""
    assert settings.auth_cache_ttl_seconds == 1.0  # the default, documented bound
    async for process in api_process(settings):
        created = await WorkflowApi(process.client, admin).create(document("ttl"))
        workflow_id = created["workflowId"]
        await cached_on(process, admin, workflow_id, 1)
        async with sessionmaker() as session, session.begin():
            await session.execute(text("SET LOCAL session_replication_role = replica"))  # no triggers, no NOTIFY
            await session.execute(
                update(WorkflowDefinitionRow)
                .where(WorkflowDefinitionRow.id == uuid.UUID(created["id"]))
                .values(enabled=False)
            )
        disabled = asyncio.get_running_loop().time()
        assert process.caches.workflows.get((admin.tenant_id, workflow_id, 1)) is not None  # nobody told it
        await asyncio.sleep(max(0.0, disabled + settings.auth_cache_ttl_seconds - asyncio.get_running_loop().time()))
        assert (await start(process, admin, workflow_id, version=1)).status_code == 400


async def test_tenants_never_share_a_cached_definition(
    other: ApiProcess, admin: Account, make_account: MakeAccount
) -> None:
    stranger = await make_account("admin")
    workflow_id = f"same-{uuid.uuid4().hex[:6]}"
    await WorkflowApi(other.client, admin).create(document(workflow_id, "mine"), unique=False)
    await WorkflowApi(other.client, stranger).create(document(workflow_id, "theirs"), unique=False)
    for _ in range(2):  # the second round is served from the cache
        assert await cached_on(other, admin, workflow_id) == "mine"
        assert await cached_on(other, stranger, workflow_id) == "theirs"
    third = await make_account("admin")
    assert await answer(other, third, workflow_id) == (404, f"Workflow definition '{workflow_id}' not found")
