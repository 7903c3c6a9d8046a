"""Jobs fire on their Temporal Schedule and every run is recorded: intervals, overlap SKIP with a
slow target, manual triggers alongside a run in flight, skipped and failed runs, command targets
running with the creator's permissions."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from engine.auth.security import hash_password
from engine.db.models import Role, RoleAcl, User, UserRole
from tests.conftest import PASSWORD, Account, login
from tests.scheduler.helpers import create_job, describe, get_job, trigger, wait_for_runs


async def test_an_interval_job_fires_and_records_each_run(
    client: httpx.AsyncClient, admin: Account, jobs: list[str]
) -> None:
    job_id = await create_job(client, admin, scheduleType="interval", scheduleValue="2s")
    jobs.append(job_id)
    runs = await wait_for_runs(client, admin, job_id, 2)
    scheduled = [r for r in runs if r["status"] == "completed"]
    assert {r["triggerType"] for r in scheduled} == {"scheduled"}
    times = [datetime.fromisoformat(r["scheduledAt"]) for r in scheduled]
    assert len(set(times)) == len(times)  # one run per firing
    assert all(t.timestamp() % 2 == 0 for t in times)  # intervals count from the epoch
    assert [r["startedAt"] for r in runs] == sorted((r["startedAt"] for r in runs), reverse=True)  # newest first
    job = await get_job(client, admin, job_id)
    assert job is not None and job["lastRunAt"] is not None
    assert datetime.fromisoformat(job["lastRunAt"]) >= max(times)


async def test_overlap_skip_never_runs_a_slow_target_twice_at_once(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client, jobs: list[str]
) -> None:
    job_id = await create_job(
        client, admin, scheduleType="interval", scheduleValue="1s", targetPayload={"sleepSeconds": 2.5}
    )
    jobs.append(job_id)
    runs = await wait_for_runs(client, admin, job_id, 2)
    spans = sorted(
        (datetime.fromisoformat(r["startedAt"]), datetime.fromisoformat(r["finishedAt"]))
        for r in runs
        if r["finishedAt"]
    )
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans)), spans
    description = await describe(temporal_client, job_id)
    assert description is not None and description.info.num_actions_skipped_overlap >= 1


async def test_trigger_while_a_run_is_in_flight_runs_both(client: httpx.AsyncClient, admin: Account) -> None:
    job_id = await create_job(client, admin, isEnabled=False, targetPayload={"sleepSeconds": 2})
    first = await trigger(client, admin, job_id)
    second = await trigger(client, admin, job_id)
    assert first["runId"] != second["runId"]
    runs = await wait_for_runs(client, admin, job_id, 2)
    assert {r["id"] for r in runs} == {first["runId"], second["runId"]}
    assert {r["status"] for r in runs} == {"completed"}


async def test_a_tenant_without_the_required_feature_records_a_skipped_run(
    client: httpx.AsyncClient, admin: Account
) -> None:
    job_id = await create_job(client, admin, requireFeature="nobody.has.this")
    await trigger(client, admin, job_id)
    runs = await wait_for_runs(client, admin, job_id, 1, statuses=("skipped",))
    assert runs[0]["errorMessage"] == "Tenant lacks the required feature nobody.has.this"
    assert runs[0]["result"] is None and runs[0]["attemptsMade"] == 0
    granted = await create_job(client, admin, requireFeature="scheduler.jobs.view")
    await trigger(client, admin, granted)
    await wait_for_runs(client, admin, granted, 1)


async def test_a_failing_target_is_retried_per_the_job_and_recorded_failed(
    client: httpx.AsyncClient, admin: Account
) -> None:
    job_id = await create_job(client, admin, targetPayload={"fail": True}, maxAttempts=2)
    run_id = (await trigger(client, admin, job_id))["runId"]
    runs = await wait_for_runs(client, admin, job_id, 1, statuses=("failed",))
    assert (runs[0]["attemptsMade"], runs[0]["errorMessage"]) == (2, "Echo asked to fail")
    detail = (await client.get(f"/api/scheduler/queue-jobs/{run_id}", headers=admin.headers)).json()
    assert (detail["state"], detail["failedReason"], detail["attemptsMade"]) == ("failed", "Echo asked to fail", 2)


async def _user_with(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], admin: Account, features: list[str]
) -> Account:
    async with sessionmaker() as session, session.begin():
        role = Role(id=uuid.uuid4(), tenant_id=admin.tenant_id, name=f"role-{uuid.uuid4().hex[:6]}")
        user = User(
            id=uuid.uuid4(), tenant_id=admin.tenant_id, organization_id=admin.organization_id,
            email=f"sched-{uuid.uuid4().hex[:8]}@covo.test", password_hash=hash_password(PASSWORD),
        )  # fmt: skip
        session.add_all([role, user])
        await session.flush()
        session.add_all([RoleAcl(role_id=role.id, features=features), UserRole(user_id=user.id, role_id=role.id)])
    return Account(user.email, user.id, admin.tenant_id, admin.organization_id, await login(client, user.email))


async def test_command_targets_run_with_the_creators_permissions(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    rule = {
        "ruleId": f"sched-{uuid.uuid4().hex[:6]}", "ruleName": "Scheduled check", "ruleType": "VALIDATION",
        "entityType": "ScheduledThing", "conditionExpression": {"==": [1, 1]},
    }  # fmt: skip
    created = await client.post("/api/business_rules/rules", json=rule, headers=admin.headers)
    assert created.status_code == 201, created.text
    # The rule belongs to the admin's organization, so the job runs bound to that organization.
    body = {
        "scopeType": "organization",
        "targetCommand": "business_rules.execute",
        "targetPayload": {"entityType": "ScheduledThing"},
    }
    allowed = await create_job(client, admin, **body)
    await trigger(client, admin, allowed)
    runs = await wait_for_runs(client, admin, allowed, 1)
    assert runs[0]["result"]["allowed"] is True
    assert [r["ruleId"] for r in runs[0]["result"]["executedRules"]] == [rule["ruleId"]]
    # A creator who may manage schedules but not execute rules: the firing fails, nothing runs.
    scheduler_only = await _user_with(client, sessionmaker, admin, ["scheduler.*"])
    refused = await create_job(client, scheduler_only, **body)
    await trigger(client, scheduler_only, refused)
    failed = await wait_for_runs(client, admin, refused, 1, statuses=("failed",))
    assert failed[0]["errorMessage"] == "The job's creator lacks the feature business_rules.execute"
    assert failed[0]["attemptsMade"] == 1  # not retried: retrying cannot grant the feature


async def test_a_rule_set_target_runs_the_set_members(client: httpx.AsyncClient, admin: Account) -> None:
    rule = {
        "ruleId": f"sched-set-{uuid.uuid4().hex[:6]}", "ruleName": "Scheduled set check", "ruleType": "VALIDATION",
        "entityType": "ScheduledSetThing", "conditionExpression": {"==": [{"var": "n"}, 2]},
    }  # fmt: skip
    created = await client.post("/api/business_rules/rules", json=rule, headers=admin.headers)
    assert created.status_code == 201, created.text
    set_key = f"set-{uuid.uuid4().hex[:6]}"
    made = await client.post("/api/business_rules/sets", json={"setId": set_key, "setName": "S"}, headers=admin.headers)
    assert made.status_code == 201, made.text
    set_uuid = made.json()["id"]
    member = await client.post(
        f"/api/business_rules/sets/{set_uuid}/members", json={"ruleId": created.json()["id"]}, headers=admin.headers
    )
    assert member.status_code == 201, member.text
    job_id = await create_job(
        client, admin, scopeType="organization", targetCommand="business_rules.execute_set",
        targetPayload={"setId": set_uuid, "data": {"n": 2}},
    )  # fmt: skip
    await trigger(client, admin, job_id)
    runs = await wait_for_runs(client, admin, job_id, 1)
    result = runs[0]["result"]
    assert result["setId"] == set_key
    assert [(r["ruleId"], r["conditionResult"]) for r in result["executedRules"]] == [(rule["ruleId"], True)]
