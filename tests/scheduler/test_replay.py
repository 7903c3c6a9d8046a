"""ScheduledJobRun histories replay with the current code. With COVO_RECORD_HISTORIES=1 the runs
are saved to tests/workflows/histories/ (scheduled-job-run-*.json), where
`tests/workflows/test_replay.py` replays them on every run, so a change that would break runs in
flight fails the suite."""

from __future__ import annotations

import os

import httpx
import pytest
from temporalio.client import Client

from tests.conftest import Account
from tests.scheduler.helpers import create_job, trigger, wait_for_runs
from tests.workflows.test_replay import HISTORIES, replayer

RECORD = os.environ.get("COVO_RECORD_HISTORIES") == "1"


@pytest.mark.parametrize(
    ("name", "fields", "status"),
    [
        ("completed", {}, "completed"),
        ("failed", {"targetPayload": {"fail": True}, "maxAttempts": 1}, "failed"),
        ("skipped", {"requireFeature": "nobody.has.this"}, "skipped"),
    ],
)
async def test_scheduled_job_runs_replay(
    client: httpx.AsyncClient,
    admin: Account,
    temporal_client: Client,
    name: str,
    fields: dict[str, object],
    status: str,
) -> None:
    job_id = await create_job(client, admin, isEnabled=False, **fields)
    await trigger(client, admin, job_id)
    runs = await wait_for_runs(client, admin, job_id, 1, statuses=(status,))
    history = await temporal_client.get_workflow_handle(runs[0]["workflowId"]).fetch_history()
    await replayer().replay_workflow(history)
    if RECORD:
        (HISTORIES / f"scheduled-job-run-{name}.json").write_text(history.to_json() + "\n")
