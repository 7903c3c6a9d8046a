"""Crash drill: SIGKILL the worker process while instances are mid-flight, start a new one, and
check that every instance completes with each side effect applied exactly once and a clean event
log (issue 3, "Tests": crash). The short drill (5 instances) runs in every `make test`; the long
one (50 instances) only in `make drill` (COVO_DRILL=1).

The worker runs as a real subprocess (`python -m workers`, the production entry point) on its own
task queue; the API is the app with that task queue, in process."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from engine.settings import Settings
from engine.temporal import ids as temporal_ids
from tests.conftest import MakeAccount, Stack
from tests.drills.conftest import DRILL_ENABLED
from tests.workflows.conftest import WorkflowApi, flow, step, tr
from tests.workflows.functions import COUNTER_TABLE

pytestmark = [pytest.mark.drill, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SIZES = [pytest.param(5, id="short"), *([pytest.param(50, id="long")] if DRILL_ENABLED else [])]
LABELS = ("a", "b", "c")
# Events of one instance, in seq order, when nothing goes wrong (and so also after a crash).
EXPECTED_EVENTS = [
    "WORKFLOW_STARTED",
    "TRANSITION_EXECUTED",  # start -> count-a
    "STEP_ENTERED",
    "STEP_EXITED",  # count-a: test.count a
    "TRANSITION_EXECUTED",  # count-a -> count-b, with a 1s WAIT activity
    "STEP_ENTERED",
    "STEP_EXITED",  # count-b: test.count b
    "TRANSITION_EXECUTED",
    "STEP_ENTERED",
    "TIMER_AWAITING",
    "TIMER_FIRED",
    "STEP_EXITED",  # pause: 2s timer
    "TRANSITION_EXECUTED",
    "STEP_ENTERED",
    "STEP_EXITED",  # count-c: test.count c
    "TRANSITION_EXECUTED",
    "STEP_ENTERED",
    "STEP_EXITED",  # end
    "WORKFLOW_COMPLETED",
]


def counted(label: str) -> dict[str, Any]:
    return {
        "activityId": f"count-{label}",
        "activityName": f"count {label}",
        "activityType": "EXECUTE_FUNCTION",
        "config": {"functionName": "test.count", "args": {"label": label}},
        # A lost attempt (its worker died) times out quickly and is retried on the new worker.
        "timeout": "5s",
        "retryPolicy": {"maxAttempts": 10, "initialIntervalMs": 200, "backoffCoefficient": 2, "maxIntervalMs": 2000},
    }


def drill_flow() -> dict[str, Any]:
    steps = [
        step("count-a", "AUTOMATED", activities=[counted("a")]),
        step("count-b", "AUTOMATED", activities=[counted("b")]),
        step("pause", "WAIT_FOR_TIMER", config={"duration": "2s"}),
        step("count-c", "AUTOMATED", activities=[counted("c")]),
    ]
    wait = {"activityId": "breathe", "activityName": "breathe", "activityType": "WAIT", "config": {"duration": "1s"}}
    transitions = [
        tr("start", "count-a"),
        tr("count-a", "count-b", activities=[wait]),
        tr("count-b", "pause"),
        tr("pause", "count-c"),
        tr("count-c", "end"),
    ]
    return flow("crash-drill", steps, transitions)


class Workers:
    """`python -m workers` subprocesses on one task queue; whatever is still alive is killed at the end."""

    def __init__(self, stack: Stack, settings: Settings, task_queue: str) -> None:
        self.env = dict(
            os.environ,
            COVO_ENV="test",
            COVO_DATA_DIR=str(stack.data_dir),
            DATABASE_URL=stack.database_url,
            TEMPORAL_ADDRESS=stack.temporal_address,
            TEMPORAL_TASK_QUEUE=task_queue,
            JWT_SECRET=settings.jwt_secret,
            DB_POOL_SIZE="5",
            WORKFLOW_FUNCTION_MODULES="tests.workflows.functions",
        )
        self.log_dir = stack.data_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"drill-worker-{len(self.started)}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "workers"], cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@asynccontextmanager
async def app_client(
    make_client: Callable[..., AsyncIterator[httpx.AsyncClient]], **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    clients = make_client(**changes)
    client = await clients.__anext__()
    try:
        yield client
    finally:
        await clients.aclose()  # type: ignore[attr-defined]


async def scalar(sessionmaker: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> Any:
    async with sessionmaker() as session:
        return await session.scalar(text(sql), params)


async def rows(sessionmaker: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> list[Any]:
    async with sessionmaker() as session:
        return list((await session.execute(text(sql), params)).all())


@pytest.mark.parametrize("instances", SIZES)
async def test_worker_killed_mid_flight_every_instance_completes_exactly_once(
    instances: int,
    stack: Stack,
    settings: Settings,
    make_client: Callable[..., AsyncIterator[httpx.AsyncClient]],
    make_account: MakeAccount,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
) -> None:
    task_queue = f"covo-drill-{uuid.uuid4().hex[:8]}"
    account = await make_account("admin")
    async with sessionmaker() as session, session.begin():
        await session.execute(text(COUNTER_TABLE))  # not raced by the first calls of test.count
    workers = Workers(stack, settings, task_queue)
    try:
        await _drill(instances, workers, account, make_client, sessionmaker, temporal_client, task_queue)
    finally:
        # The counter table is test scaffolding, not part of the schema: leave none behind for the
        # migration check (tests/test_foundation.py) that may run after this drill.
        async with sessionmaker() as session, session.begin():
            await session.execute(text("DROP TABLE IF EXISTS test_side_effects"))


async def _drill(
    instances: int,
    workers: Workers,
    account: Any,
    make_client: Callable[..., AsyncIterator[httpx.AsyncClient]],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    task_queue: str,
) -> None:
    try:
        first = workers.start()
        async with app_client(make_client, temporal_task_queue=task_queue) as client:
            api = WorkflowApi(client, account)
            workflow_id = (await api.create(drill_flow()))["workflowId"]
            gate = asyncio.Semaphore(10)

            async def start(i: int) -> str:
                async with gate:
                    return str((await api.start(workflow_id, initialContext={"n": i}))["id"])

            ids = list(await asyncio.gather(*(start(i) for i in range(instances))))
        ids_param = {"ids": ids}
        count_effects = "SELECT count(*) FROM test_side_effects WHERE instance_id = ANY(:ids)"
        count_completed = (
            "SELECT count(*) FROM workflow_instances WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'COMPLETED'"
        )

        # Kill once about half of the side effects happened: instances are spread over
        # activities, the WAIT activity and the timer.
        deadline = time.monotonic() + 120
        while (effects := await scalar(sessionmaker, count_effects, **ids_param)) < instances * len(LABELS) // 2:
            assert first.poll() is None, "the worker died on its own"
            assert time.monotonic() < deadline, f"only {effects} side effects after 120s"
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        done_at_kill = await scalar(sessionmaker, count_completed, **ids_param)
        effects_at_kill = await scalar(sessionmaker, count_effects, **ids_param)
        print(f"\nkilled the worker: {effects_at_kill} side effects, {done_at_kill}/{instances} completed")
        assert done_at_kill < instances, "every instance completed before the kill: nothing was mid-flight"

        await asyncio.sleep(1)
        workers.start()
        recovering = time.monotonic()
        deadline = recovering + 300
        while (done := await scalar(sessionmaker, count_completed, **ids_param)) < instances:
            assert time.monotonic() < deadline, f"only {done}/{instances} completed 300s after the restart"
            await asyncio.sleep(0.2)
        print(f"all {instances} completed {time.monotonic() - recovering:.1f}s after the new worker started")
    finally:
        workers.stop_all()

    # What the crash cost, from Temporal's side (informative: it depends on where the kill landed).
    retried = timed_out = 0
    for instance_id in ids:
        history = await temporal_client.get_workflow_handle(
            temporal_ids.workflow_instance_id(instance_id)
        ).fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                retried += event.activity_task_started_event_attributes.attempt > 1
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                timed_out += 1
    print(f"activity attempts retried after the kill: {retried}; workflow tasks timed out: {timed_out}")

    # Exactly once: one side effect per counted activity and instance.
    effects_by_instance: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for instance_id, label in await rows(
        sessionmaker, "SELECT instance_id, label FROM test_side_effects WHERE instance_id = ANY(:ids)", **ids_param
    ):
        effects_by_instance[instance_id][label] += 1
    wrong = {i: dict(effects_by_instance[i]) for i in ids if effects_by_instance[i] != collections.Counter(LABELS)}
    assert not wrong, f"side effects not exactly once: {wrong}"

    # The read model: no duplicate seq, the expected events in order, one row per step.
    events: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    for instance_id, seq, event_type in await rows(
        sessionmaker,
        "SELECT workflow_instance_id::text, seq, event_type FROM workflow_events "
        "WHERE workflow_instance_id = ANY(CAST(:ids AS uuid[])) ORDER BY workflow_instance_id, seq, id",
        **ids_param,
    ):
        events[instance_id].append((seq, event_type))
    for instance_id in ids:
        seqs = [seq for seq, _ in events[instance_id]]
        assert len(seqs) == len(set(seqs)), f"{instance_id}: duplicate seq {sorted(seqs)}"
        assert [t for _, t in events[instance_id]] == EXPECTED_EVENTS, instance_id
    step_rows = await rows(
        sessionmaker,
        "SELECT workflow_instance_id::text, step_id, count(*), bool_and(status = 'COMPLETED') FROM step_instances "
        "WHERE workflow_instance_id = ANY(CAST(:ids AS uuid[])) GROUP BY 1, 2",
        **ids_param,
    )
    assert len(step_rows) == instances * 5  # count-a, count-b, pause, count-c, end
    assert all(n == 1 and ok for _, _, n, ok in step_rows), [r for r in step_rows if r[2] != 1 or not r[3]]
