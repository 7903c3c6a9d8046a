"""Faults survived, measured (`make drill`): with INSTANCES instances in flight, one fault at a time
- the worker is SIGKILLed and restarted,
- the Temporal dev server is stopped for 10 s and restarted,
- Postgres is stopped for 10 s and restarted (`/health/ready` answers 503 naming it, then 200),
- the API process is SIGKILLed while start requests are in flight (clients retry with their
  `Idempotency-Key`).
After each: every instance completes, every side effect happened exactly once (mail rows, webhook
effects as the receiver applies them, i.e. by idempotency key, the counted function), no
projection row is lost or duplicated (events, steps), no mail or domain event is stranded. Prints
the table fault / instances / completed / duplicates / lost / recovery time.

Its own stack (Postgres and a Temporal dev server persisting to SQLite, so both can be stopped
and started again), the worker and the API as real subprocesses (`covo worker`, `covo api`)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db import migrate
from engine.db.session import create_engine, create_sessionmaker
from engine.devstack import EmbeddedPostgres, TemporalDevServer, free_port, wait_for_port
from tests.conftest import Account, account_factory
from tests.drills.test_crash import rows, scalar
from tests.http_receiver import Receiver, serving
from tests.workflows.conftest import flow, step, tr
from tests.workflows.functions import COUNTER_TABLE

pytestmark = [pytest.mark.drill, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INSTANCES = int(os.environ.get("COVO_DRILL_INSTANCES", "200"))
OUTAGE_SECONDS = 10
RECOVERY_LIMIT = 600
STEPS = ("notify", "pause", "count", "end")


def drill_flow(receiver_url: str) -> dict[str, Any]:
    retry = {"maxAttempts": 10, "initialIntervalMs": 1000, "backoffCoefficient": 2, "maxIntervalMs": 5000}
    notify = [
        {
            "activityId": "mail",
            "activityName": "mail",
            "activityType": "SEND_EMAIL",
            "config": {"to": "drill@covo.test", "subject": "drill", "body": "drill"},
            "timeout": "10s",
            "retryPolicy": retry,
        },
        {
            "activityId": "hook",
            "activityName": "hook",
            "activityType": "CALL_WEBHOOK",
            "config": {"url": f"{receiver_url}/hook", "body": {"n": "{{context.n}}"}},
            "timeout": "10s",
            "retryPolicy": retry,
        },
        {
            "activityId": "event",
            "activityName": "event",
            "activityType": "EMIT_EVENT",
            "config": {"eventName": "drill.notified", "payload": {"n": "{{context.n}}"}},
            "timeout": "10s",
            "retryPolicy": retry,
        },
    ]
    count = {
        "activityId": "count",
        "activityName": "count",
        "activityType": "EXECUTE_FUNCTION",
        "config": {"functionName": "test.count", "args": {"label": "c"}},
        "timeout": "10s",
        "retryPolicy": retry,
    }
    steps = [
        step("notify", "AUTOMATED", activities=notify),
        step("pause", "WAIT_FOR_TIMER", config={"duration": "5s"}),
        step("count", "AUTOMATED", activities=[count]),
    ]
    transitions = [tr("start", "notify"), tr("notify", "pause"), tr("pause", "count"), tr("count", "end")]
    return flow(f"fault-drill-{uuid.uuid4().hex[:6]}", steps, transitions)


@dataclass
class Stack:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    restarts: collections.Counter[str] = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self.postgres = EmbeddedPostgres(self.root / "postgres")
        self.temporal = TemporalDevServer(
            port=free_port(), db_file=self.root / "temporal.sqlite", log_file=self.root / "temporal.log"
        )
        self.api_port = free_port()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        database_url = self.postgres.start()
        migrate.upgrade(database_url)
        self.temporal.start()
        self.env = dict(
            os.environ,
            COVO_ENV="test",
            COVO_DATA_DIR=str(self.root),
            DATABASE_URL=database_url,
            TEMPORAL_ADDRESS=self.temporal.address,
            TEMPORAL_TASK_QUEUE="covo-drill",
            JWT_SECRET="drill-secret-" + "x" * 40,
            API_PORT=str(self.api_port),
            AUTH_RATE_LIMIT="100000",
            DB_POOL_SIZE="10",
            WORKFLOWS_ALLOW_PRIVATE_URLS="true",
            WORKFLOW_FUNCTION_MODULES="tests.workflows.functions",
        )

    def spawn(self, name: str) -> None:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115
        self.processes[name] = subprocess.Popen(
            [str(BIN / "covo"), name], cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        if name == "api":
            wait_for_port(self.api_port, 60, self.processes[name])

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def supervise(self) -> None:
        """What a process manager does (`restart: unless-stopped`): a child that exited is restarted."""
        for name, process in list(self.processes.items()):
            if process.poll() is not None:
                self.restarts[name] += 1
                self.spawn(name)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.temporal.stop()
        self.postgres.stop()


@dataclass
class Round:
    fault: str
    instances: int
    completed: int = 0
    duplicates: int = 0
    lost: int = 0
    recovery: float = 0.0
    notes: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
async def drill() -> AsyncIterator[tuple[Stack, async_sessionmaker[AsyncSession]]]:
    stack = Stack(Path(tempfile.mkdtemp(prefix="covo-drill-")))
    await asyncio.to_thread(stack.start)
    engine = create_engine(stack.env["DATABASE_URL"], pool_size=5)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        await session.execute(text(COUNTER_TABLE))
    try:
        stack.spawn("worker")
        stack.spawn("api")
        yield stack, sessionmaker
    finally:
        await engine.dispose()
        await asyncio.to_thread(stack.stop)


async def _start_all(
    client: httpx.AsyncClient,
    account: Account,
    workflow_id: str,
    keys: list[str],
    on_progress: Callable[[int], Awaitable[None]] | None = None,
) -> dict[str, str]:
    """Starts one instance per key; a start that fails (the API died) is retried with its key."""
    started: dict[str, str] = {}
    gate = asyncio.Semaphore(10)
    done = 0

    async def start(i: int, key: str) -> None:
        nonlocal done
        deadline = time.monotonic() + 120
        async with gate:
            while True:
                try:
                    response = await client.post(
                        "/api/workflows/instances",
                        json={"workflowId": workflow_id, "initialContext": {"n": i}},
                        headers={**account.headers, "Idempotency-Key": key},
                    )
                    if response.status_code == 201:
                        started[key] = response.json()["data"]["instance"]["id"]
                        break
                    assert response.status_code >= 500, response.text
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"start {key} never accepted"
                await asyncio.sleep(0.5)
        done += 1
        if on_progress is not None:
            await on_progress(done)

    await asyncio.gather(*(start(i, key) for i, key in enumerate(keys)))
    return started


async def _wait_all_completed(stack: Stack, sessionmaker: async_sessionmaker[AsyncSession], ids: list[str]) -> None:
    deadline = time.monotonic() + RECOVERY_LIMIT
    query = "SELECT count(*) FROM workflow_instances WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'COMPLETED'"
    while True:
        stack.supervise()
        with contextlib.suppress(Exception):  # Postgres may still be coming back
            if await scalar(sessionmaker, query, ids=ids) == len(ids):
                return
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.5)


async def _wait_unstranded(stack: Stack, sessionmaker: async_sessionmaker[AsyncSession], ids: list[str]) -> None:
    """A mail or event whose hand-off to Temporal was lost is handed in again by the outbox sweep
    (every minute, rows older than 60 s): wait for it, within three sweeps."""
    query = (
        "SELECT (SELECT count(*) FROM mail_outbox WHERE split_part(idempotency_key, ':', 2) = ANY(:ids) "
        "AND status <> 'SENT') + (SELECT count(*) FROM domain_events "
        "WHERE split_part(idempotency_key, ':', 2) = ANY(:ids) AND dispatched_at IS NULL)"
    )
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline:
        if not await scalar(sessionmaker, query, ids=ids):
            return
        stack.supervise()
        await asyncio.sleep(1)


async def _wait_effects(sessionmaker: async_sessionmaker[AsyncSession], ids: list[str], share: float) -> None:
    """Until `share` of the instances sent their mail: the fault then lands mid-flight."""
    query = "SELECT count(*) FROM mail_outbox WHERE split_part(idempotency_key, ':', 2) = ANY(:ids)"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if await scalar(sessionmaker, query, ids=ids) >= len(ids) * share:
            return
        await asyncio.sleep(0.1)


async def _measure(
    sessionmaker: async_sessionmaker[AsyncSession], receiver: Receiver, ids: list[str], result: Round
) -> None:
    params = {"ids": ids}
    statuses = dict(
        await rows(
            sessionmaker,
            "SELECT id::text, status FROM workflow_instances WHERE id = ANY(CAST(:ids AS uuid[]))",
            **params,
        )
    )
    result.completed = sum(1 for i in ids if statuses.get(i) == "COMPLETED")
    lost = set(ids) - {i for i in ids if statuses.get(i) == "COMPLETED"}
    duplicates: collections.Counter[str] = collections.Counter()

    def per_instance(pairs: list[Any]) -> collections.Counter[str]:
        return collections.Counter(str(p[0]) for p in pairs)

    mails = per_instance(
        await rows(
            sessionmaker,
            "SELECT split_part(idempotency_key, ':', 2), status FROM mail_outbox "
            "WHERE split_part(idempotency_key, ':', 2) = ANY(:ids)",
            **params,
        )
    )
    stranded_mail = await scalar(
        sessionmaker,
        "SELECT count(*) FROM mail_outbox WHERE split_part(idempotency_key, ':', 2) = ANY(:ids) AND status <> 'SENT'",
        **params,
    )
    events = per_instance(
        await rows(
            sessionmaker,
            "SELECT split_part(idempotency_key, ':', 2) FROM domain_events WHERE split_part(idempotency_key, ':', 2) = ANY(:ids)",
            **params,
        )
    )
    stranded_events = await scalar(
        sessionmaker,
        "SELECT count(*) FROM domain_events WHERE split_part(idempotency_key, ':', 2) = ANY(:ids) AND dispatched_at IS NULL",
        **params,
    )
    counted = per_instance(
        await rows(sessionmaker, "SELECT instance_id FROM test_side_effects WHERE instance_id = ANY(:ids)", **params)
    )
    wanted = set(ids)
    hooks_by_key: collections.Counter[str] = collections.Counter(
        key
        for h in receiver.hits
        if h.path == "/hook"
        and (key := h.headers.get("idempotency-key", "")).count(":") >= 2
        and key.split(":")[1] in wanted
    )
    applied_hooks = collections.Counter(key.split(":")[1] for key in hooks_by_key if key.count(":") >= 2)
    seqs = await rows(
        sessionmaker,
        "SELECT workflow_instance_id::text, seq, count(*) FROM workflow_events "
        "WHERE workflow_instance_id = ANY(CAST(:ids AS uuid[])) GROUP BY 1, 2",
        **params,
    )
    step_rows = await rows(
        sessionmaker,
        "SELECT workflow_instance_id::text, step_id, count(*) FROM step_instances "
        "WHERE workflow_instance_id = ANY(CAST(:ids AS uuid[])) GROUP BY 1, 2",
        **params,
    )
    steps = collections.defaultdict(dict)
    for instance_id, step_id, n in step_rows:
        steps[instance_id][step_id] = n
    for instance_id in ids:
        for name, counter in (("mail", mails), ("event", events), ("count", counted), ("webhook", applied_hooks)):
            if counter[instance_id] > 1:
                duplicates[name] += counter[instance_id] - 1
            elif counter[instance_id] == 0:
                lost.add(instance_id)
                result.notes.append(f"{instance_id}: no {name}")
        for step_id in STEPS:
            n = steps[instance_id].get(step_id, 0)
            if n > 1:
                duplicates["step row"] += n - 1
            elif n == 0:
                lost.add(instance_id)
    if repeated := sum(n - 1 for _, _, n in seqs if n > 1):
        duplicates["event seq"] += repeated
    redelivered = sum(n - 1 for n in hooks_by_key.values() if n > 1)
    result.duplicates = sum(duplicates.values())
    result.lost = len(lost) + stranded_mail + stranded_events
    if duplicates:
        result.notes.append(f"duplicates: {dict(duplicates)}")
    if stranded_mail or stranded_events:
        result.notes.append(f"stranded: {stranded_mail} mail, {stranded_events} events")
    if redelivered:
        result.notes.append(f"webhook re-deliveries absorbed by the receiver's idempotency key: {redelivered}")


async def test_faults_survived(drill: tuple[Stack, async_sessionmaker[AsyncSession]]) -> None:
    stack, sessionmaker = drill
    results: list[Round] = []
    async with serving(Receiver()) as receiver, httpx.AsyncClient(base_url=stack.api_url, timeout=60) as client:
        account = await account_factory(client, sessionmaker)("admin")
        client.cookies.clear()
        response = await client.post(
            "/api/workflows/definitions", json=drill_flow(receiver.url), headers=account.headers
        )
        assert response.status_code == 201, response.text
        workflow_id = response.json()["data"]["workflowId"]

        async def run_round(fault: str, inject: Callable[[list[str]], Awaitable[float]]) -> None:
            """`inject` applies the fault to instances in flight and returns when recovery began."""
            keys = [f"{fault}-{i}-{uuid.uuid4().hex[:6]}" for i in range(INSTANCES)]
            result = Round(fault, INSTANCES)
            if fault.startswith("API"):
                recovery_began = 0.0

                async def kill_midway(done: int) -> None:
                    nonlocal recovery_began
                    if done == INSTANCES // 3 and not recovery_began:
                        stack.kill("api")  # requests in flight now fail; their clients retry
                        recovery_began = time.monotonic()
                        await asyncio.sleep(1)
                        await asyncio.to_thread(stack.spawn, "api")

                started = await _start_all(client, account, workflow_id, keys, kill_midway)
                ids = sorted(set(started.values()))
                result.duplicates += len(started) - len(ids)
            else:
                started = await _start_all(client, account, workflow_id, keys)
                ids = sorted(set(started.values()))
                recovery_began = await inject(ids)
            await _wait_all_completed(stack, sessionmaker, ids)
            result.recovery = time.monotonic() - recovery_began
            await _wait_unstranded(stack, sessionmaker, ids)
            await _measure(sessionmaker, receiver, ids, result)
            results.append(result)

        async def kill_worker(ids: list[str]) -> float:
            await _wait_effects(sessionmaker, ids, 0.3)
            stack.kill("worker")
            await asyncio.sleep(1)
            stack.spawn("worker")
            return time.monotonic()

        async def stop_temporal(ids: list[str]) -> float:
            await _wait_effects(sessionmaker, ids, 0.3)
            await asyncio.to_thread(stack.temporal.stop)
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(stack.temporal.start)
            return time.monotonic()

        async def stop_postgres(ids: list[str]) -> float:
            await _wait_effects(sessionmaker, ids, 0.3)
            await asyncio.to_thread(stack.postgres.stop)
            outage_end = time.monotonic() + OUTAGE_SECONDS
            ready = await client.get("/api/health/ready")
            assert ready.status_code == 503, ready.text
            assert "postgres" in ready.json()["error"], ready.text
            await asyncio.sleep(max(0.0, outage_end - time.monotonic()))
            await asyncio.to_thread(stack.postgres.start)
            began = time.monotonic()
            deadline = began + 60
            while (await client.get("/api/health/ready")).status_code != 200:
                assert time.monotonic() < deadline, "/health/ready never recovered"
                await asyncio.sleep(0.5)
            return began

        async def no_inject(ids: list[str]) -> float:
            return time.monotonic()

        await run_round("worker SIGKILL", kill_worker)
        await run_round(f"Temporal stopped {OUTAGE_SECONDS} s", stop_temporal)
        await run_round(f"Postgres stopped {OUTAGE_SECONDS} s", stop_postgres)
        await run_round("API killed mid-request", no_inject)

    table = [
        "| fault | instances | completed | duplicates | lost | recovery time |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r.fault} | {r.instances} | {r.completed} | {r.duplicates} | {r.lost} | {r.recovery:.1f} s |"
            for r in results
        ),
    ]
    print("\n" + "\n".join(table))
    for r in results:
        for note in r.notes[:10]:
            print(f"  {r.fault}: {note}")
    if stack.restarts:
        print(f"  processes restarted by the supervisor: {dict(stack.restarts)}")
    assert all(r.completed == r.instances and r.duplicates == 0 and r.lost == 0 for r in results), table
