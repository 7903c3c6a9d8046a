"""The table and Temporal are brought back in step after either is changed behind the other's
back (worker start-up and `covo scheduler reconcile` run the same code); old runs are pruned by
the scheduler's own job; jobs ship as data through `covo definitions apply`."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, ScheduleUpdate, ScheduleUpdateInput

from engine.db.base import utcnow
from engine.db.models import ScheduledJobRow, ScheduledJobRunRow, Tenant
from engine.scheduler import files
from engine.scheduler.service import PRUNE_JOB_ID, Reconciled, reconcile
from engine.settings import Settings
from engine.temporal.ids import job_schedule_id
from tests.conftest import Account, Stack
from tests.scheduler.helpers import create_job, describe, get_job, trigger, wait_for_runs

Sessions = async_sessionmaker[AsyncSession]
DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions" / "schedules"
COVO = str(Path(sys.executable).parent / "covo")


async def run_reconcile(sessionmaker: Sessions, temporal: Client, settings: Settings) -> Reconciled:
    async with sessionmaker() as session, session.begin():
        return await reconcile(session, temporal, settings.temporal_task_queue)


async def test_a_schedule_deleted_behind_the_services_back_is_recreated(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client, sessionmaker: Sessions, settings: Settings
) -> None:
    job_id = await create_job(client, admin, isEnabled=False)
    await temporal_client.get_schedule_handle(job_schedule_id(uuid.UUID(job_id))).delete()
    report = await run_reconcile(sessionmaker, temporal_client, settings)
    assert job_id in report.created
    description = await describe(temporal_client, job_id)
    assert description is not None and description.schedule.state.paused  # still disabled
    again = await run_reconcile(sessionmaker, temporal_client, settings)
    assert job_id not in again.created + again.repaired + again.deleted


async def test_a_schedule_whose_row_was_deleted_behind_temporals_back_is_deleted(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client, sessionmaker: Sessions, settings: Settings
) -> None:
    job_id = await create_job(client, admin)
    async with sessionmaker() as session, session.begin():
        await session.execute(delete(ScheduledJobRow).where(ScheduledJobRow.id == uuid.UUID(job_id)))
    report = await run_reconcile(sessionmaker, temporal_client, settings)
    assert job_id in report.deleted
    assert await describe(temporal_client, job_id) is None


async def test_a_drifted_schedule_is_repaired(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client, sessionmaker: Sessions, settings: Settings
) -> None:
    job_id = await create_job(client, admin, scheduleValue="0 3 * * *")
    handle = temporal_client.get_schedule_handle(job_schedule_id(uuid.UUID(job_id)))

    def tamper(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = current.description.schedule
        spec = dataclasses.replace(schedule.spec, cron_expressions=["0 4 * * *"], calendars=[])
        action = dataclasses.replace(schedule.action, memo={"covoSpec": "tampered"})  # type: ignore[type-var]
        return ScheduleUpdate(schedule=dataclasses.replace(schedule, spec=spec, action=action))

    await handle.update(tamper)
    report = await run_reconcile(sessionmaker, temporal_client, settings)
    assert job_id in report.repaired
    job = await get_job(client, admin, job_id)
    description = await describe(temporal_client, job_id)
    assert job is not None and description is not None
    assert job["nextRunAt"].startswith(description.info.next_action_times[0].isoformat()[:16])
    assert description.info.next_action_times[0].hour == 3


async def test_old_runs_are_pruned_by_the_schedulers_own_job(
    client: httpx.AsyncClient,
    admin: Account,
    superadmin: Account,
    temporal_client: Client,
    sessionmaker: Sessions,
    settings: Settings,
) -> None:
    job_id = uuid.UUID(await create_job(client, admin, isEnabled=False))
    now = utcnow()
    old, recent = uuid.uuid4(), uuid.uuid4()
    async with sessionmaker() as session, session.begin():
        for run_id, age in ((old, timedelta(days=settings.scheduler_retention_days + 1)), (recent, timedelta(days=1))):
            run = ScheduledJobRunRow(
                id=run_id, job_id=job_id, tenant_id=admin.tenant_id, idempotency_key=f"test:{run_id}",
                workflow_id=f"test-{run_id}", status="completed", trigger_type="scheduled",
                started_at=now - age, finished_at=now - age,
            )  # fmt: skip
            session.add(run)
    async with sessionmaker() as session, session.begin():
        # Earlier tests (schemathesis runs as a super admin) may have changed or deleted the built-in
        # job: start from none, so the reconcile below is what creates it.
        await session.execute(delete(ScheduledJobRunRow).where(ScheduledJobRunRow.job_id == PRUNE_JOB_ID))
        await session.execute(delete(ScheduledJobRow).where(ScheduledJobRow.id == PRUNE_JOB_ID))
    await run_reconcile(sessionmaker, temporal_client, settings)  # ensures the built-in job and its schedule
    prune = await get_job(client, superadmin, str(PRUNE_JOB_ID))
    assert prune is not None
    assert (prune["scopeType"], prune["sourceType"], prune["targetQueue"]) == (
        "system",
        "module",
        "scheduler.prune_runs",
    )
    assert await describe(temporal_client, str(PRUNE_JOB_ID)) is not None
    await trigger(client, superadmin, str(PRUNE_JOB_ID))
    runs = await wait_for_runs(client, superadmin, str(PRUNE_JOB_ID), 1)
    assert runs[0]["result"]["deleted"] >= 1
    async with sessionmaker() as session:
        left = set(
            (await session.scalars(select(ScheduledJobRunRow.id).where(ScheduledJobRunRow.job_id == job_id))).all()
        )
    assert left == {recent}


def covo(stack: Stack, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "DATABASE_URL": stack.database_url,
        "TEMPORAL_ADDRESS": stack.temporal_address,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
    }
    return subprocess.run([COVO, *args], env=env, capture_output=True, text=True, timeout=120)


async def test_schedules_ship_as_data_and_apply_only_changes(
    tmp_path: Path,
    stack: Stack,
    settings: Settings,
    admin: Account,
    temporal_client: Client,
    sessionmaker: Sessions,
) -> None:
    job = {
        "id": str(uuid.uuid4()), "name": "Shipped echo", "scopeType": "tenant", "scheduleType": "interval",
        "scheduleValue": "6h", "targetType": "command", "targetCommand": "scheduler.test.echo",
    }  # fmt: skip
    (tmp_path / "echo.json").write_text(json.dumps(job))
    first = covo(stack, settings, "definitions", "apply", str(tmp_path), "--tenant", str(admin.tenant_id))
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created    schedule Shipped echo")
    assert await describe(temporal_client, job["id"]) is not None

    async def apply_again(document: dict[str, object]) -> str:
        """What the command does for one file, in-process (a second `covo` process costs seconds)."""
        parsed, problems = files.parse(document)
        assert parsed is not None, problems
        async with sessionmaker() as session, session.begin():
            tenant = await session.get(Tenant, admin.tenant_id)
            applied = await files.apply(session, temporal_client, tenant, parsed, settings.temporal_task_queue)
        return applied.action

    assert await apply_again(job) == "unchanged"
    assert await apply_again({**job, "scheduleValue": "12h"}) == "updated"
    description = await describe(temporal_client, job["id"])
    assert description is not None and description.schedule.spec.intervals[0].every == timedelta(hours=12)
    (tmp_path / "bad.json").write_text(json.dumps({**job, "id": str(uuid.uuid4()), "scheduleValue": "0h"}))
    bad = covo(stack, settings, "definitions", "validate", str(tmp_path))
    assert bad.returncode == 1 and "scheduleValue: Invalid schedule value" in bad.stdout
    shipped = {path.name: files.load(path)[1] for path in sorted(DEFINITIONS.glob("*.json"))}
    assert len(shipped) == 4 and all(problems == [] for problems in shipped.values()), shipped  # all valid


async def test_reconcile_from_the_command_line(
    client: httpx.AsyncClient, admin: Account, stack: Stack, settings: Settings, temporal_client: Client
) -> None:
    job_id = await create_job(client, admin)
    await temporal_client.get_schedule_handle(job_schedule_id(uuid.UUID(job_id))).delete()
    result = covo(stack, settings, "scheduler", "reconcile")
    assert result.returncode == 0, result.stderr
    assert f"created    sched-{job_id}" in result.stdout
    assert await describe(temporal_client, job_id) is not None
