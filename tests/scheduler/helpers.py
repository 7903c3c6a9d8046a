"""Shared steps of the scheduler tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from temporalio.client import Client, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from engine.temporal.ids import job_schedule_id
from tests.conftest import Account


def job_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"job {uuid.uuid4().hex[:6]}",
        "scopeType": "tenant",
        "scheduleType": "cron",
        "scheduleValue": "0 3 * * *",
        "timezone": "UTC",
        "targetType": "command",
        "targetCommand": "scheduler.test.echo",
        "targetPayload": {"hello": "world"},
    }
    body.update(fields)
    return body


async def create_job(client: httpx.AsyncClient, account: Account, **fields: Any) -> str:
    response = await client.post("/api/scheduler/jobs", json=job_body(**fields), headers=account.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def get_job(client: httpx.AsyncClient, account: Account, job_id: str) -> dict[str, Any] | None:
    response = await client.get("/api/scheduler/jobs", params={"id": job_id}, headers=account.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    return items[0] if items else None


async def describe(temporal: Client, job_id: str) -> ScheduleDescription | None:
    try:
        return await temporal.get_schedule_handle(job_schedule_id(uuid.UUID(job_id))).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def executions(client: httpx.AsyncClient, account: Account, job_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/api/scheduler/jobs/{job_id}/executions", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_for_runs(
    client: httpx.AsyncClient,
    account: Account,
    job_id: str,
    count: int,
    statuses: tuple[str, ...] = ("completed",),
    patience: float = 60,
) -> list[dict[str, Any]]:
    """The job's executions once at least `count` of them have one of `statuses`."""
    deadline = time.monotonic() + patience
    while True:
        items = (await executions(client, account, job_id, pageSize=100))["items"]
        done = [item for item in items if item["status"] in statuses]
        if len(done) >= count:
            return items
        assert time.monotonic() < deadline, f"only {len(done)} of {count} runs {statuses}: {items}"
        await asyncio.sleep(0.3)


async def trigger(client: httpx.AsyncClient, account: Account, job_id: str) -> dict[str, Any]:
    response = await client.post("/api/scheduler/trigger", json={"id": job_id}, headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def delete_job(client: httpx.AsyncClient, account: Account, job_id: str) -> None:
    response = await client.request("DELETE", "/api/scheduler/jobs", json={"id": job_id}, headers=account.headers)
    assert response.status_code == 200, response.text
