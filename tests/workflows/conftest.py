from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Account
from tests.workflows.functions import COUNTER_TABLE
from workers.workflows.errors import NonRetryable
from workers.workflows.functions import FunctionContext, register

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions" / "workflows"
TERMINAL = {"COMPLETED", "CANCELLED", "FAILED", "COMPENSATED"}

# More EXECUTE_FUNCTION targets for these tests (the worker runs in this process).


@register("test.sleep")
async def sleep_function(args: dict[str, Any], ctx: FunctionContext) -> Any:
    """Takes `args.seconds` to answer: for activity timeouts and long async activities."""
    await asyncio.sleep(float(args.get("seconds", 1)))
    return {"slept": args.get("seconds")}


# How each `test.sleep_outcome` call ended, by instance: "finished" or "cancelled".
SLEEP_OUTCOMES: dict[str, str] = {}


@register("test.sleep_outcome")
async def sleep_outcome(args: dict[str, Any], ctx: FunctionContext) -> Any:
    """`test.sleep` that notes how it ended, so a test can wait until the activity is really over
    (finished, or cancelled by Temporal) before it checks what the instance made of it."""
    try:
        await asyncio.sleep(float(args.get("seconds", 1)))
    except asyncio.CancelledError:
        SLEEP_OUTCOMES[ctx.instance_id] = "cancelled"
        raise
    SLEEP_OUTCOMES[ctx.instance_id] = "finished"
    return {"slept": args.get("seconds")}


_flaky_seen: set[str] = set()


@register("test.flaky")
async def flaky(args: dict[str, Any], ctx: FunctionContext) -> Any:
    """Fails the first time it runs for an instance, then succeeds: for retry."""
    if ctx.instance_id not in _flaky_seen:
        _flaky_seen.add(ctx.instance_id)
        raise NonRetryable("flaky: first attempt fails")
    return {"ok": True}


def shipped(name: str) -> dict[str, Any]:
    return dict(json.loads((DEFINITIONS / f"{name}.json").read_text()))


class WorkflowApi:
    """Thin helper over the HTTP API, as a consumer would use it."""

    def __init__(self, client: httpx.AsyncClient, account: Account) -> None:
        self.client = client
        self.account = account

    async def create(self, document: dict[str, Any], *, unique: bool = True) -> dict[str, Any]:
        if unique:
            document = {**document, "workflowId": f"{document['workflowId']}-{uuid.uuid4().hex[:6]}"}
        response = await self.client.post("/api/workflows/definitions", json=document, headers=self.account.headers)
        assert response.status_code == 201, response.text
        return dict(response.json()["data"])

    async def start(self, workflow_id: str, **body: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/workflows/instances", json={"workflowId": workflow_id, **body}, headers=self.account.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json()["data"]["instance"])

    async def instance(self, instance_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/workflows/instances/{instance_id}", headers=self.account.headers)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    async def position(self, instance_id: str) -> tuple[Any, ...]:
        """Where an instance stands (status, step, context): what a refused command must not move."""
        instance = await self.instance(instance_id)
        return instance["status"], instance["currentStepId"], instance["previousStepId"], instance["context"]

    async def wait_for(
        self,
        instance_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 20,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            current = await self.instance(instance_id)
            if predicate(current):
                return current
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"instance never matched; last state: {current}")
            await asyncio.sleep(0.05)

    async def wait_status(self, instance_id: str, *statuses: str, timeout: float = 20) -> dict[str, Any]:  # noqa: ASYNC109
        return await self.wait_for(instance_id, lambda i: i["status"] in statuses, timeout)

    async def events(self, instance_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/api/workflows/instances/{instance_id}/events?limit=200", headers=self.account.headers
        )
        assert response.status_code == 200, response.text
        return list(reversed(response.json()["data"]))  # oldest first

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.account.headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.account.headers)

    async def put(self, path: str, body: Any) -> httpx.Response:
        return await self.client.put(path, json=body, headers=self.account.headers)

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(path, headers=self.account.headers)

    async def event_types(self, instance_id: str) -> list[str]:
        return [e["eventType"] for e in await self.events(instance_id)]

    async def signal(self, instance_id: str, name: str, payload: dict[str, Any] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"signalName": name}
        if payload is not None:
            body["payload"] = payload
        return await self.post(f"/api/workflows/instances/{instance_id}/signal", body)

    async def tasks(self, **filters: Any) -> list[dict[str, Any]]:
        response = await self.get("/api/workflows/tasks", **filters)
        assert response.status_code == 200, response.text
        return list(response.json()["data"])

    async def wait_task(
        self,
        instance_id: str,
        status: str = "PENDING",
        *,
        count: int = 1,
        timeout: float = 20,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Polls until the instance has `count` tasks in `status`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = await self.tasks(workflowInstanceId=instance_id, status=status)
            if len(found) >= count:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {status} task; tasks: {await self.tasks(workflowInstanceId=instance_id)}")
            await asyncio.sleep(0.05)

    async def wait_event(self, instance_id: str, event_type: str, timeout: float = 20) -> list[str]:  # noqa: ASYNC109
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            types = await self.event_types(instance_id)
            if event_type in types:
                return types
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{event_type} never recorded; events: {types}")
            await asyncio.sleep(0.05)

    async def run(self, document: dict[str, Any], **start: Any) -> tuple[str, dict[str, Any]]:
        """Creates the definition and starts an instance: (workflowId, instance)."""
        definition = await self.create(document)
        return definition["workflowId"], await self.start(definition["workflowId"], **start)


# ---------------------------------------------------------------- definition builders


def step(step_id: str, step_type: str, **extra: Any) -> dict[str, Any]:
    return {"stepId": step_id, "stepName": extra.pop("stepName", step_id.title()), "stepType": step_type, **extra}


def tr(from_step: str, to_step: str, transition_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "transitionId": transition_id or f"{from_step}-to-{to_step}",
        "fromStepId": from_step,
        "toStepId": to_step,
        "trigger": extra.pop("trigger", "auto"),
        **extra,
    }


def fn(activity_id: str, function: str, args: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """An EXECUTE_FUNCTION activity (named like its id)."""
    return {
        "activityId": activity_id,
        "activityName": extra.pop("activityName", activity_id),
        "activityType": "EXECUTE_FUNCTION",
        "config": {"functionName": function, "args": args or {}},
        **extra,
    }


def flow(
    workflow_id: str, steps: list[dict[str, Any]], transitions: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """A definition document; `start` and `end` steps are added when absent."""
    ids = {s["stepId"] for s in steps}
    if "start" not in ids:
        steps = [step("start", "START"), *steps]
    if "end" not in ids:
        steps = [*steps, step("end", "END")]
    definition = {"steps": steps, "transitions": transitions, **extra.pop("definition_extra", {})}
    return {
        "workflowId": workflow_id,
        "workflowName": extra.pop("workflowName", workflow_id),
        "definition": definition,
        **extra,
    }


def chain(workflow_id: str, *middle: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """START -> each of `middle` in order -> END, all `auto`."""
    ids = ["start", *(s["stepId"] for s in middle), "end"]
    return flow(workflow_id, list(middle), [tr(a, b) for a, b in itertools.pairwise(ids)], **extra)


async def side_effects(sessionmaker: async_sessionmaker[AsyncSession], instance_id: str) -> list[str]:
    """Labels recorded by `test.count` for one instance, in order."""
    async with sessionmaker() as session, session.begin():
        await session.execute(text(COUNTER_TABLE))
        rows = await session.execute(
            text("SELECT label FROM test_side_effects WHERE instance_id = :i ORDER BY id"), {"i": instance_id}
        )
        return [r[0] for r in rows]


MakeApi = Callable[..., Awaitable[WorkflowApi]]


@pytest.fixture
async def wf(client: httpx.AsyncClient, admin: Account) -> WorkflowApi:
    return WorkflowApi(client, admin)
