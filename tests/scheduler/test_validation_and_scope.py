"""Every kind of bad input is a 400 naming the bad field, with nothing stored (TC-SCHED-007
widened); unknown ids are 404; scope rules of reference §4.4."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from engine.db.models import ScheduledJobRow
from tests.conftest import Account, MakeAccount
from tests.helpers import count_rows, nothing_written
from tests.scheduler.helpers import create_job, describe, get_job, job_body, trigger, wait_for_runs

BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({"scheduleValue": "not-a-cron"}, "scheduleValue"),
    ({"scheduleValue": "* * *"}, "scheduleValue"),
    ({"scheduleValue": "* * * * * *"}, "scheduleValue"),
    ({"scheduleValue": "61 * * * *"}, "scheduleValue"),
    ({"scheduleType": "interval", "scheduleValue": "15x"}, "scheduleValue"),
    ({"scheduleType": "interval", "scheduleValue": "99"}, "scheduleValue"),
    ({"scheduleType": "interval", "scheduleValue": "0s"}, "scheduleValue"),
    ({"scheduleType": "interval", "scheduleValue": "1.5m"}, "scheduleValue"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"scheduleType": "weekly"}, "scheduleType"),
    ({"scopeType": "galaxy"}, "scopeType"),
    ({"targetType": "email"}, "targetType"),
    ({"targetCommand": "no.such.command"}, "targetCommand"),
    ({"targetCommand": None}, "targetCommand"),
    ({"targetType": "queue", "targetQueue": "no-such-queue"}, "targetQueue"),
    ({"targetType": "queue", "targetCommand": "scheduler.test.echo"}, "targetQueue"),
    ({"targetCommand": "workflows.start", "targetPayload": {"version": 1}}, "targetPayload.workflowId"),
    ({"targetPayload": {"sleepSeconds": -1}}, "targetPayload.sleepSeconds"),
    ({"targetPayload": ["not", "an", "object"]}, "targetPayload"),
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"description": "x" * 501}, "description"),
    ({"overlapPolicy": "CANCEL_OTHER"}, "overlapPolicy"),
    ({"catchupWindowSeconds": 5}, "catchupWindowSeconds"),
    ({"jitterSeconds": -1}, "jitterSeconds"),
    ({"maxAttempts": 0}, "maxAttempts"),
]


async def test_bad_input_is_refused_with_the_field_path_and_nothing_stored(
    client: httpx.AsyncClient, admin: Account
) -> None:
    """One tenant for every case (a tenant per case would cost a second each)."""
    paths = []
    for change, _ in BAD_CREATES:
        response = await client.post("/api/scheduler/jobs", json=job_body(**change), headers=admin.headers)
        assert response.status_code == 400, (change, response.text)
        paths.append([d["path"] for d in response.json()["details"]])
    assert [path in found for (_, path), found in zip(BAD_CREATES, paths, strict=True)] == [True] * len(BAD_CREATES), (
        paths
    )
    listed = await client.get("/api/scheduler/jobs", headers=admin.headers)
    assert listed.json()["total"] == 0


BAD_UPDATES: list[tuple[dict[str, Any], str]] = [
    ({"scheduleValue": "*/5 * * * *"}, "scheduleType"),
    ({"scheduleType": "cron", "scheduleValue": "not-a-cron"}, "scheduleValue"),
    ({"scheduleType": "interval", "scheduleValue": "0m"}, "scheduleValue"),
    ({"timezone": "Nowhere/Land"}, "timezone"),
    ({"targetType": "queue"}, "targetQueue"),
    ({"targetCommand": "no.such.command"}, "targetCommand"),
]


async def test_bad_update_is_refused_and_the_job_and_schedule_stay_as_they_were(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client
) -> None:
    job_id = await create_job(client, admin)
    before = await get_job(client, admin, job_id)
    for change, path in BAD_UPDATES:
        response = await client.put("/api/scheduler/jobs", json={"id": job_id, **change}, headers=admin.headers)
        assert response.status_code == 400, (change, response.text)
        assert path in [d["path"] for d in response.json()["details"]], (change, response.text)
    assert await get_job(client, admin, job_id) == before
    description = await describe(temporal_client, job_id)
    assert description is not None and description.schedule.spec.time_zone_name == "UTC"


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_unknown_ids_are_404_everywhere(
    client: httpx.AsyncClient, admin: Account, job_id: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        answers = [
            await client.put("/api/scheduler/jobs", json={"id": job_id, "name": "x"}, headers=admin.headers)
            if job_id != "not-a-uuid"
            else None,
            await client.request("DELETE", "/api/scheduler/jobs", json={"id": job_id}, headers=admin.headers),
            await client.post("/api/scheduler/trigger", json={"id": job_id}, headers=admin.headers),
            await client.get(f"/api/scheduler/jobs/{job_id}/executions", headers=admin.headers),
            await client.get(f"/api/scheduler/queue-jobs/{job_id}", headers=admin.headers),
        ]
        assert {a.status_code for a in answers if a is not None} == {404}


async def test_missing_id_and_bad_queue_name_are_400(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        delete = await client.request("DELETE", "/api/scheduler/jobs", headers=admin.headers)
        assert delete.status_code == 400 and delete.json() == {"error": "Schedule id is required"}
        number = await client.request("DELETE", "/api/scheduler/jobs", json={"id": 42}, headers=admin.headers)
        assert number.status_code == 404
        wrong_type = await client.post("/api/scheduler/trigger", json={"id": ["x"]}, headers=admin.headers)
        assert wrong_type.status_code == 400
        queue = await client.get(
            f"/api/scheduler/queue-jobs/{uuid.uuid4()}", params={"queue": "bogus"}, headers=admin.headers
        )
        assert queue.status_code == 400 and queue.json() == {"error": "Invalid queue name"}


async def test_scope_comes_from_the_caller(client: httpx.AsyncClient, admin: Account) -> None:
    """Organization and tenant come from the caller, never from the body."""
    foreign = str(uuid.uuid4())
    org_job = await create_job(client, admin, scopeType="organization", organizationId=foreign, tenantId=foreign)
    job = await get_job(client, admin, org_job)
    assert job is not None
    assert (job["tenantId"], job["organizationId"]) == (str(admin.tenant_id), str(admin.organization_id))


async def test_system_jobs_are_for_super_admins(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    system_jobs = await count_rows(sessionmaker, ScheduledJobRow, ScheduledJobRow.scope_type == "system")
    refused = await client.post("/api/scheduler/jobs", json=job_body(scopeType="system"), headers=admin.headers)
    assert refused.status_code == 403
    assert refused.json() == {"error": "System-scoped schedules require superadmin privileges"}
    assert await count_rows(sessionmaker, ScheduledJobRow, ScheduledJobRow.scope_type == "system") == system_jobs
    root = await make_account("superadmin", "admin", tenant_id=admin.tenant_id)
    system_job = await create_job(client, root, scopeType="system")
    job = await get_job(client, root, system_job)
    assert job is not None and (job["scopeType"], job["tenantId"], job["organizationId"]) == ("system", None, None)
    # A tenant admin neither sees it nor may change it.
    assert await get_job(client, admin, system_job) is None
    update = await client.put("/api/scheduler/jobs", json={"id": system_job, "name": "x"}, headers=admin.headers)
    assert update.status_code == 403
    assert (
        await client.post("/api/scheduler/trigger", json={"id": system_job}, headers=admin.headers)
    ).status_code == 404
    assert await get_job(client, root, system_job) == job  # neither renamed nor run
    assert (await client.get(f"/api/scheduler/jobs/{system_job}/executions", headers=root.headers)).json()["total"] == 0


async def test_tenants_never_see_each_others_jobs_or_runs(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    job_id = await create_job(client, admin, isEnabled=False)
    run_id = (await trigger(client, admin, job_id))["runId"]
    await wait_for_runs(client, admin, job_id, 1)
    other = await make_account("admin")
    listed = await client.get("/api/scheduler/jobs", headers=other.headers)
    assert listed.json()["total"] == 0
    async with nothing_written(sessionmaker, admin.tenant_id):
        answers = [
            await client.put("/api/scheduler/jobs", json={"id": job_id, "name": "x"}, headers=other.headers),
            await client.request("DELETE", "/api/scheduler/jobs", json={"id": job_id}, headers=other.headers),
            await client.post("/api/scheduler/trigger", json={"id": job_id}, headers=other.headers),
            await client.get(f"/api/scheduler/jobs/{job_id}/executions", headers=other.headers),
            await client.get(f"/api/scheduler/queue-jobs/{run_id}", headers=other.headers),
        ]
        assert [a.status_code for a in answers] == [404] * 5
    job = await get_job(client, admin, job_id)
    assert job is not None and job["name"] != "x"
