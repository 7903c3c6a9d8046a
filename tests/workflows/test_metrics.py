"""Prometheus metrics: the API's request latency by route template and answers by status on
GET /metrics, the business counters, and the worker's own endpoint (Temporal SDK metrics and our
counters through the runtime's Prometheus exporter) served by the real worker process."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from engine import metrics
from engine.devstack import free_port
from engine.settings import Settings
from tests.conftest import Account
from tests.workflows.conftest import WorkflowApi, chain, step

ROOT = Path(__file__).resolve().parents[2]


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one series in a Prometheus text exposition (labels: a subset to match)."""
    for line in exposition.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


async def test_request_latency_is_labelled_by_route_template(client: httpx.AsyncClient, admin: Account) -> None:
    route = "/api/workflows/instances/{id}"
    before = sample((await client.get("/metrics")).text, "covo_http_responses_total", route=route, status="404") or 0
    for _ in range(2):
        response = await client.get(f"/api/workflows/instances/{uuid.uuid4()}", headers=admin.headers)
        assert response.status_code == 404
    scrape = await client.get("/metrics")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text
    assert sample(text, "covo_http_responses_total", method="GET", route=route, status="404") == before + 2
    assert (sample(text, "covo_http_request_duration_seconds_count", method="GET", route=route) or 0) >= 2
    # Never one series per object: no raw ids in labels.
    assert not re.search(r'route="[^"]*[0-9a-f]{8}-[0-9a-f]{4}-', text)


async def test_unknown_paths_share_one_series(client: httpx.AsyncClient) -> None:
    for path in ("/nope/1", "/nope/2"):
        assert (await client.get(path)).status_code == 404
    assert sample((await client.get("/metrics")).text, "covo_http_responses_total", route="(unmatched)", status="404")


async def test_instances_started_and_finished_are_counted_once(wf: WorkflowApi) -> None:
    workflow_id, instance = await wf.run(chain("metrics", step("work", "AUTOMATED")))
    assert metrics.INSTANCES_STARTED.value(definition=workflow_id) == 1
    await wf.wait_status(instance["id"], "COMPLETED")
    for _ in range(100):  # the projection's counter moves after its commit
        if metrics.INSTANCES_FINISHED.value(definition=workflow_id, status="COMPLETED"):
            break
        await asyncio.sleep(0.05)
    assert metrics.INSTANCES_FINISHED.value(definition=workflow_id, status="COMPLETED") == 1
    assert metrics.INSTANCES_FINISHED.value(definition=workflow_id, status="FAILED") == 0


def test_a_counter_refuses_wrong_labels() -> None:
    with pytest.raises(ValueError, match="definition"):
        metrics.INSTANCES_STARTED.inc(workflow="x")


async def test_the_worker_process_serves_sdk_and_business_metrics(
    settings: Settings, make_client: object, admin: Account
) -> None:
    """`python -m workers` with WORKER_METRICS_ADDRESS: one endpoint with the SDK's workflow task
    and activity metrics and our counters, fed by an instance it ran."""
    assert settings.database_url and settings.temporal_address
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        **os.environ,
        "COVO_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_TASK_QUEUE": queue,
        "JWT_SECRET": settings.jwt_secret,
        "COVO_DATA_DIR": str(settings.data_dir),
        "WORKER_METRICS_ADDRESS": f"127.0.0.1:{port}",
        "LOG_FORMAT": "json",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workers", env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        async for client in make_client(temporal_task_queue=queue):  # type: ignore[operator]
            wf = WorkflowApi(client, admin)
            workflow_id, instance = await wf.run(chain("worker-metrics", step("work", "AUTOMATED")))
            await wf.wait_status(instance["id"], "COMPLETED", timeout=60)
        async with httpx.AsyncClient() as http:
            text = ""
            for _ in range(100):
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                if sample(text, "covo_instances_finished_total", definition=workflow_id, status="COMPLETED"):
                    break
                await asyncio.sleep(0.1)
        assert sample(text, "covo_instances_finished_total", definition=workflow_id, status="COMPLETED") == 1
        assert sample(text, "temporal_workflow_task_schedule_to_start_latency_count", task_queue=queue)
        assert sample(text, "temporal_workflow_task_execution_latency_count", task_queue=queue)
        # The instance's read-model writes are activities (local or regular, as the interpreter runs them).
        assert any(
            sample(text, f"temporal_{kind}_execution_latency_count", task_queue=queue)
            for kind in ("activity", "local_activity")
        ), [line for line in text.splitlines() if "activity" in line][:20]
    finally:
        worker.terminate()
        _, stderr = await asyncio.wait_for(worker.communicate(), 60)
    assert worker.returncode == 0, stderr.decode()[-2000:]


def test_several_api_processes_answer_for_all_of_them(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR (uvicorn --workers N in one container), /metrics sums every
    process's counters, not just the one that happens to answer the scrape."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    bump = "from engine import metrics; metrics.TASK_COMMANDS.inc(command='claim_task')"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", bump], env=env, cwd=ROOT, check=True)
    scrape = "from api.metrics import _exposition; print(_exposition().decode())"
    text = subprocess.run(
        [sys.executable, "-c", scrape], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    assert sample(text, "covo_task_commands_total", command="claim_task") == 2
