"""Scheduled jobs through the HTTP API: the reference's TC-SCHED-001…007 adapted, each job
mirrored by its Temporal Schedule `sched-<id>`."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, ScheduleIntervalSpec

from tests.conftest import Account, MakeAccount
from tests.helpers import nothing_written
from tests.scheduler.helpers import create_job, delete_job, describe, get_job, job_body, trigger, wait_for_runs
from tests.test_timestamps import CONTRACT_FORMAT, timestamps

CONTRACT_FIELDS = {
    "id", "name", "description", "scopeType", "organizationId", "tenantId", "scheduleType", "scheduleValue",
    "timezone", "targetType", "targetQueue", "targetCommand", "targetPayload", "requireFeature", "isEnabled",
    "lastRunAt", "nextRunAt", "sourceType", "sourceModule", "createdAt", "updatedAt",
}  # fmt: skip


async def test_a_created_job_is_listed_by_id_with_its_schedule_and_true_next_run(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client
) -> None:
    """TC-SCHED-001: the job is listed with the contract's fields; its nextRunAt is the first of
    the times Temporal's schedule will fire."""
    job_id = await create_job(client, admin, scheduleValue="*/5 * * * *", timezone="Europe/Warsaw")
    job = await get_job(client, admin, job_id)
    assert job is not None
    assert job.keys() >= CONTRACT_FIELDS
    assert job["scopeType"] == "tenant" and job["tenantId"] == str(admin.tenant_id) and job["organizationId"] is None
    assert (job["isEnabled"], job["lastRunAt"], job["sourceType"]) == (True, None, "user")
    assert (job["overlapPolicy"], job["maxAttempts"], job["jitterSeconds"]) == ("SKIP", 3, 0)
    description = await describe(temporal_client, job_id)
    assert description is not None and not description.schedule.state.paused
    assert description.schedule.spec.time_zone_name == "Europe/Warsaw"
    assert datetime.fromisoformat(job["nextRunAt"]) == description.info.next_action_times[0]


async def test_update_changes_name_and_interval_and_keeps_scope_and_target(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client
) -> None:
    """TC-SCHED-002: PUT name + interval; scope fields in the body are ignored."""
    job_id = await create_job(client, admin)
    response = await client.put(
        "/api/scheduler/jobs",
        json={"id": job_id, "name": "renamed", "scheduleType": "interval", "scheduleValue": "15m",
              "scopeType": "system", "tenantId": str(uuid.uuid4())},
        headers=admin.headers,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True}
    job = await get_job(client, admin, job_id)
    assert job is not None
    assert (job["name"], job["scheduleType"], job["scheduleValue"]) == ("renamed", "interval", "15m")
    assert (job["scopeType"], job["tenantId"]) == ("tenant", str(admin.tenant_id))
    assert (job["targetType"], job["targetCommand"], job["targetPayload"]) == (
        "command",
        "scheduler.test.echo",
        {"hello": "world"},
    )
    description = await describe(temporal_client, job_id)
    assert description is not None
    assert [i.every.total_seconds() for i in description.schedule.spec.intervals] == [900]
    assert isinstance(description.schedule.spec.intervals[0], ScheduleIntervalSpec)
    assert datetime.fromisoformat(job["nextRunAt"]) == description.info.next_action_times[0]


async def test_delete_removes_the_job_and_its_schedule(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client
) -> None:
    """TC-SCHED-003: soft delete; the list answers 200 with no items; a second delete is 404."""
    job_id = await create_job(client, admin)
    await delete_job(client, admin, job_id)
    response = await client.get("/api/scheduler/jobs", params={"id": job_id}, headers=admin.headers)
    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "totalPages": 0}
    assert await describe(temporal_client, job_id) is None
    again = await client.request("DELETE", "/api/scheduler/jobs", params={"id": job_id}, headers=admin.headers)
    assert again.status_code == 404 and again.json() == {"error": "Schedule not found"}


async def test_targets_are_listed_sorted_with_labels(client: httpx.AsyncClient, admin: Account) -> None:
    """TC-SCHED-004."""
    response = await client.get("/api/scheduler/targets", headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    commands = [c["value"] for c in body["commands"]]
    queues = [q["value"] for q in body["queues"]]
    assert commands == sorted(commands) and queues == sorted(queues)
    assert {"workflows.start", "business_rules.execute", "business_rules.execute_set", "scheduler.test.echo"} <= set(
        commands
    )
    assert {"outbox.sweep", "scheduler.prune_runs"} <= set(queues)
    assert all(item["label"] for item in body["commands"] + body["queues"])


async def test_trigger_runs_the_job_now_and_records_the_execution(client: httpx.AsyncClient, admin: Account) -> None:
    """TC-SCHED-005: trigger works in every deployment and answers with the run's id."""
    job_id = await create_job(client, admin, isEnabled=False)
    answer = await trigger(client, admin, job_id)
    assert answer["ok"] is True and answer["jobId"] == job_id and answer["message"]
    run_id = answer["runId"]
    items = await wait_for_runs(client, admin, job_id, 1)
    assert [i["id"] for i in items] == [run_id]
    run = items[0]
    assert (run["status"], run["triggerType"], run["triggeredByUserId"]) == ("completed", "manual", str(admin.user_id))
    assert run["result"] == {"hello": "world", "tenantId": str(admin.tenant_id), "organizationId": None}
    assert run["attemptsMade"] == 1 and run["durationMs"] is not None and run["finishedAt"] is not None
    detail = await client.get(f"/api/scheduler/queue-jobs/{run_id}", headers=admin.headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert (body["id"], body["state"], body["attemptsMade"]) == (run_id, "completed", 1)
    assert body["returnvalue"] == run["result"] and body["workflowId"] == run["workflowId"]
    job = await get_job(client, admin, job_id)
    assert job is not None and job["lastRunAt"] is not None
    assert job["nextRunAt"] is None  # disabled: it will not fire by itself


async def test_view_only_users_cannot_change_or_trigger_jobs(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """TC-SCHED-006: an employee (scheduler.jobs.view) is refused writes with 403, and nothing changes."""
    job_id = await create_job(client, admin)
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    assert (await client.get("/api/scheduler/jobs", headers=employee.headers)).status_code == 200
    async with nothing_written(sessionmaker, admin.tenant_id):
        refused = [
            await client.post("/api/scheduler/jobs", json=job_body(), headers=employee.headers),
            await client.put("/api/scheduler/jobs", json={"id": job_id, "name": "x"}, headers=employee.headers),
            await client.request("DELETE", "/api/scheduler/jobs", json={"id": job_id}, headers=employee.headers),
            await client.post("/api/scheduler/trigger", json={"id": job_id}, headers=employee.headers),
        ]
        assert [r.status_code for r in refused] == [403, 403, 403, 403]
        assert refused[0].json()["requiredFeatures"] == ["scheduler.jobs.manage"]
    job = await get_job(client, admin, job_id)
    assert job is not None and job["name"] != "x"
    listed = await client.get("/api/scheduler/jobs", headers=admin.headers)
    assert listed.json()["total"] == 1


async def test_list_filters_sorts_and_pages(client: httpx.AsyncClient, admin: Account) -> None:
    first = await create_job(client, admin, name="alpha nightly", description="cleans up")
    second = await create_job(client, admin, name="beta", isEnabled=False, scheduleType="interval", scheduleValue="1h")

    async def ids(**params: object) -> list[str]:
        response = await client.get("/api/scheduler/jobs", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids(search="CLEANS") == [first]
    assert await ids(isEnabled="false") == [second]
    assert await ids(isEnabled="true") == [first]
    assert await ids(sort="name", order="desc") == [second, first]
    assert await ids(sort="name", order="asc", pageSize=1, page=2) == [second]
    assert await ids(sourceType="module") == []
    assert (await client.get("/api/scheduler/jobs", params={"sort": "bogus"}, headers=admin.headers)).status_code == 400


async def test_disable_pauses_and_enable_unpauses_the_schedule(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client
) -> None:
    job_id = await create_job(client, admin)
    for enabled in (False, True):
        response = await client.put(
            "/api/scheduler/jobs", json={"id": job_id, "isEnabled": enabled}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
        description = await describe(temporal_client, job_id)
        assert description is not None and description.schedule.state.paused is (not enabled)
        job = await get_job(client, admin, job_id)
        assert job is not None and (job["nextRunAt"] is not None) is enabled


async def test_policies_reach_the_temporal_schedule(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client
) -> None:
    job_id = await create_job(
        client, admin, overlapPolicy="BUFFER_ONE", catchupWindowSeconds=120, jitterSeconds=5, maxAttempts=2
    )
    description = await describe(temporal_client, job_id)
    assert description is not None
    policy = description.schedule.policy
    assert (policy.overlap.name, policy.catchup_window.total_seconds()) == ("BUFFER_ONE", 120)
    assert description.schedule.spec.jitter is not None and description.schedule.spec.jitter.total_seconds() == 5
    default = await describe(temporal_client, await create_job(client, admin, scheduleValue="0 * * * *"))
    assert default is not None and default.schedule.policy.overlap.name == "SKIP"
    assert default.schedule.policy.catchup_window.total_seconds() == 3600  # one period of the job


async def test_nothing_is_stored_when_temporal_is_down(
    client: httpx.AsyncClient, admin: Account, make_client: object, temporal_client: Client
) -> None:
    """503, and the table is left as it was: no new job, the deleted one still live."""
    job_id = await create_job(client, admin)
    async for down in make_client(temporal_address="127.0.0.1:1"):  # type: ignore[operator]
        created = await down.post("/api/scheduler/jobs", json=job_body(name="never"), headers=admin.headers)
        deleted = await down.request("DELETE", "/api/scheduler/jobs", json={"id": job_id}, headers=admin.headers)
        triggered = await down.post("/api/scheduler/trigger", json={"id": job_id}, headers=admin.headers)
        assert [created.status_code, deleted.status_code, triggered.status_code] == [503, 503, 503]
    listed = await client.get("/api/scheduler/jobs", headers=admin.headers)
    assert [item["id"] for item in listed.json()["items"]] == [job_id]
    assert await describe(temporal_client, job_id) is not None
    runs = await client.get(f"/api/scheduler/jobs/{job_id}/executions", headers=admin.headers)
    assert runs.json()["total"] == 0


async def test_job_and_run_answers_use_the_contract_timestamp_format(client: httpx.AsyncClient, admin: Account) -> None:
    """`engine.clock.iso` (`...T03:00:00.000Z`), as every other answer; the scheduler once sent
    Python's `+00:00` with microseconds."""
    job_id = await create_job(client, admin)
    await trigger(client, admin, job_id)
    runs = await wait_for_runs(client, admin, job_id, 1)
    found = timestamps([await get_job(client, admin, job_id), runs])
    assert {key for key, _ in found} >= {"createdAt", "updatedAt", "nextRunAt", "startedAt"}
    assert [stamp for stamp in found if not CONTRACT_FORMAT.match(stamp[1])] == []
