"""Workflow engine throughput and latency, side by side with a hand-written Temporal workflow.

Starts its own embedded stack in a temporary directory, exactly as `make run` does (embedded
Postgres, Temporal dev server persisting to SQLite with the WAL pragmas, migrations, admin, the
production worker `python -m workers` and the API under uvicorn, each in its own process), then
measures in one run:

  a) the contract's checkout flow (definitions/workflows/checkout.json) started through
     POST /api/workflows/instances, N instances at concurrency C: instances/s, start -> COMPLETED
     p50/p99 (the moment the projection wrote the COMPLETED row, `workflow_instances.updated_at`,
     minus the moment the start request was sent, polled from Postgres), and the start request's
     own p50/p99;
  b) a plain Temporal workflow doing the same work (the SEND_EMAIL equivalent: a mail_outbox row
     through `engine.mail.service.enqueue_once`, delivered in the same activity; and one
     write of the final instance state to Postgres), run by a worker with the production worker's
     runner configuration on its own task queue, started with the Temporal client at the same
     concurrency. With eager start on (`WORKFLOW_EAGER_START`, as `make run`), that worker runs in
     this process and shares the starting client, as ours runs in the API process; else it is a
     process of its own;
  c) one instance at a time: start -> COMPLETED p50/p99 (ours, and plain for comparison);
  d) the round trip of POST .../signal (instance waiting at WAIT_FOR_SIGNAL) and POST .../advance
     (instance resting at a step whose only way out is a `manual` transition).

Prints a table and writes it to bench/results/workflows.md.

Usage: ``.venv/bin/python bench/bench_workflows.py [--instances 200] [--concurrency 20]
[--sequential 30] [--round-trips 30] [--warmup 20] [--rounds 1] [--strict]``.
``--strict`` exits 1 when a goal is missed. Every process it starts is stopped on exit or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import uvloop
from leanhttp import LeanClient
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from stack import ADMIN_EMAIL, Stack, run, say
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy

from engine.devstack import temporal_binary
from engine.mail import service as mail
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = ROOT / "definitions" / "workflows" / "checkout.json"
RESULTS = ROOT / "bench" / "results" / "workflows.md"
PLAIN_QUEUE = "bench-plain"
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "COMPENSATED")
# When each side's finished row was written, about the moment a reader could see it: `updated_at`
# (stamped by our projection's write) and `written_at` (the plain side's). Both sides'
# `completed_at` is workflow time: when the last step ran, inside the workflow task, before the write.
WRITTEN_AT = {"workflow_instances": "updated_at", "bench_plain_instances": "written_at"}
# Eager start as `make run` does it (server/app.py), given to the plain side too: its worker then
# runs in this process, sharing the client that starts its workflows.
EAGER = Settings.model_fields["workflow_eager_start"].default
# Our API's start admission bound (engine/workflows/settlement.py), applied to the plain side too.
SETTLE_S = Settings.model_fields["workflow_start_settle_ms"].default / 1000

# Quoted, not measured here: shared/reference/peer-measurements.md, "Side by side, one run
# (2026-12-05)": Open Mercato (commit 8c6a837, production build) on a 2-core machine of this kind,
# load average below 0.4, the checkout flow without e-mail, 200 instances 20 at a time, medians of 3.
OM_SOURCE = "quoted: peer-measurements.md, 2026-12-05, 2-core machine, load < 0.4"
OM_THROUGHPUT = 36.4
OM_LATENCY = (823.0, 1069.0)
OM_REQUEST = (524.0, 751.0)
RAW_THROUGHPUT = "~29 (3 activities, file SQLite WAL)"
RAW_ONE_STEP = "99 / 149 ms p50/p95 (1 activity, in-memory server)"
RAW_UPDATE = "11.7 / 19.6 ms p50/p95 (execute_update, in-memory server)"


# ---------------------------------------------------------------------------------------------
# The hand-written plain workflow. It lives in this module; the plain worker imports the module as
# `bench_workflows` (never `__main__`) and passes it through the sandbox, as production passes
# `engine` through.


class PlainInput(BaseModel):
    instance_id: uuid.UUID
    context: dict[str, Any]
    task_queue: str
    email: bool = True


class PlainEmail(BaseModel):
    instance_id: uuid.UUID
    to: str
    subject: str
    body: str
    idempotency_key: str
    task_queue: str


class PlainState(BaseModel):
    instance_id: uuid.UUID
    status: str
    context: dict[str, Any]
    completed_at: datetime


PLAIN_SEND_EMAIL = "bench.plain.send_email"
PLAIN_WRITE_STATE = "bench.plain.write_state"
PLAIN_TABLE = """
CREATE TABLE IF NOT EXISTS bench_plain_instances (
    id uuid PRIMARY KEY,
    status text NOT NULL,
    context jsonb NOT NULL,
    completed_at timestamptz NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp()
)"""


@workflow.defn(name="BenchPlainCheckout", sandboxed=False)  # as our interpreter
class PlainCheckoutWorkflow:
    """START -> validate-cart -> payment -> END with the SEND_EMAIL on the last transition, the way
    one would write it by hand: the AUTOMATED steps have no activities, so nothing runs for them."""

    @workflow.run
    async def run(self, request: PlainInput) -> str:
        context = request.context
        if not request.email:
            sent: dict[str, Any] = {}
        else:
            # A local activity, as ours runs SEND_EMAIL (engine/workflows/interpreter/saga.py).
            sent = await workflow.execute_local_activity(
                PLAIN_SEND_EMAIL,
                PlainEmail(
                    instance_id=request.instance_id,
                    to=str(context.get("customerEmail")),
                    subject=f"Order Confirmation #{context.get('orderId')}",
                    body="[order_confirmation]\n{}",
                    idempotency_key=f"plain:{request.instance_id}:1:0",
                    task_queue=request.task_queue,
                ),
                result_type=dict,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        final = {**context, "Send Order Confirmation": sent} if request.email else dict(context)
        await workflow.execute_local_activity(
            PLAIN_WRITE_STATE,
            PlainState(instance_id=request.instance_id, status="COMPLETED", context=final, completed_at=workflow.now()),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
        )
        return "COMPLETED"


class PlainActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], client: Client, mailer: Any) -> None:
        self.sessionmaker = sessionmaker
        self.client = client
        self.mailer = mailer

    @activity.defn(name=PLAIN_SEND_EMAIL)
    async def send_email(self, request: PlainEmail) -> dict[str, Any]:
        async with self.sessionmaker() as session, session.begin():
            outbox_id = await mail.enqueue_once(
                session,
                recipient=request.to,
                subject=request.subject,
                body=request.body,
                tenant_id=None,
                idempotency_key=request.idempotency_key,
            )
        await self.mailer.deliver(outbox_id)  # as the engine's SEND_EMAIL does
        return {"sent": True, "to": request.to, "outboxIds": [str(outbox_id)]}

    @activity.defn(name=PLAIN_WRITE_STATE)
    async def write_state(self, state: PlainState) -> None:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO bench_plain_instances (id, status, context, completed_at) "
                    "VALUES (:id, :status, CAST(:context AS jsonb), :completed_at) "
                    "ON CONFLICT (id) DO UPDATE SET status = excluded.status, context = excluded.context, "
                    "completed_at = excluded.completed_at, written_at = clock_timestamp()"
                ),
                {
                    "id": state.instance_id,
                    "status": state.status,
                    "context": json.dumps(state.context),
                    "completed_at": state.completed_at,
                },
            )


def plain_worker(client: Client, database_url: str) -> tuple[Any, AsyncEngine]:
    """The plain workflow's worker, configured like `workers.registry.build_worker`."""
    import bench_workflows as module  # this file under its own name: the sandbox cannot use __main__
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from engine.db.session import create_engine, create_sessionmaker
    from engine.settings import get_settings
    from workers.mail import Mailer
    from workers.registry import POLLING

    settings = get_settings()
    engine = create_engine(database_url, pool_size=settings.db_pool_size)
    sessionmaker = create_sessionmaker(engine)
    plain = module.PlainActivities(sessionmaker, client, Mailer(sessionmaker, settings))
    worker = Worker(
        client,
        task_queue=PLAIN_QUEUE,
        workflows=[module.PlainCheckoutWorkflow],
        activities=[plain.send_email, plain.write_state],
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("engine", "bench_workflows")
        ),
        graceful_shutdown_timeout=timedelta(seconds=25),
        **POLLING,
    )
    # The same heap freeze as our API and workers (engine.heap.frozen_heap), for this process's life.
    gc.collect()
    gc.freeze()
    return worker, engine


async def run_plain_worker() -> None:
    """`--plain-worker`: the plain workflow's worker process when starts are not eager
    (DATABASE_URL, TEMPORAL_ADDRESS from the environment)."""
    from engine.settings import get_settings
    from engine.temporal.client import connect

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_settings()
    assert settings.database_url and settings.temporal_address
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    worker, engine = plain_worker(client, settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with worker:
            await stop.wait()
    finally:
        await engine.dispose()


# ---------------------------------------------------------------------------------------------
# The stack


# ---------------------------------------------------------------------------------------------
# Measurement


def pct(values: Iterable[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def p50_p99(values_s: list[float]) -> tuple[float, float]:
    return pct(values_s, 50) * 1000, pct(values_s, 99) * 1000


@dataclass
class Load:
    """One batch run at some concurrency."""

    throughput: float
    latencies: list[float]  # start sent -> completed_at, seconds
    requests: list[float] = field(default_factory=list)  # start call duration, seconds
    cpu: dict[str, float] = field(default_factory=dict)  # CPU ms per instance, by process
    sent: dict[str, float] = field(default_factory=dict)  # instance id -> moment the start was sent


@dataclass
class Tracker:
    """Instances started so far (id -> moment the start was sent), and which of them Postgres shows
    as finished. `wait` polls until every started one has finished."""

    engine: AsyncEngine
    table: str
    sent: dict[str, float] = field(default_factory=dict)
    completed_at: dict[str, float] = field(default_factory=dict)
    seen_at: dict[str, float] = field(default_factory=dict)

    async def poll_once(self) -> None:
        pending = [i for i in self.sent if i not in self.seen_at]
        if not pending:
            return
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        f"SELECT id::text, status, {WRITTEN_AT[self.table]} FROM {self.table} "
                        "WHERE id = ANY(CAST(:ids AS uuid[]))"
                    ),
                    {"ids": pending},
                )
            ).all()
        now = time.time()
        for instance_id, status, completed_at in rows:
            if status not in TERMINAL:
                continue
            if status != "COMPLETED":
                raise RuntimeError(f"instance {instance_id} ended {status}")
            self.completed_at[instance_id] = completed_at.timestamp()
            self.seen_at[instance_id] = now

    async def wait(self, starting: asyncio.Future[Any] | None, interval: float, within: float = 600) -> None:
        deadline = time.monotonic() + within
        while True:
            await self.poll_once()
            if (starting is None or starting.done()) and len(self.seen_at) == len(self.sent):
                return
            if starting is not None and starting.done() and (failure := starting.exception()) is not None:
                raise failure
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.sent) - len(self.seen_at)} instances did not complete")
            await asyncio.sleep(interval)

    def result(self, requests: list[float]) -> Load:
        first = min(self.sent.values())
        last = max(self.seen_at.values())
        return Load(
            throughput=len(self.sent) / (last - first),
            latencies=[self.completed_at[i] - self.sent[i] for i in self.sent],
            requests=requests,
            sent=dict(self.sent),
        )


class Bench:
    def __init__(self, stack: Stack, args: argparse.Namespace) -> None:
        self.stack = stack
        self.args = args

    async def __aenter__(self) -> Bench:
        from engine.db.session import create_engine
        from engine.temporal.client import connect

        self.engine = create_engine(self.stack.env["DATABASE_URL"], pool_size=4)
        self.temporal = await connect(self.stack.env["TEMPORAL_ADDRESS"])
        self.plain: tuple[Any, AsyncEngine] | None = None
        if EAGER:
            self.plain = plain_worker(self.temporal, self.stack.env["DATABASE_URL"])
            await self.plain[0].__aenter__()
        limits = httpx.Limits(
            max_connections=self.args.concurrency + 4, max_keepalive_connections=self.args.concurrency + 4
        )
        self.http = httpx.AsyncClient(base_url=self.stack.api_url, timeout=60, limits=limits)
        response = await self.http.post("/api/auth/login", data={"email": ADMIN_EMAIL, "password": self.stack.password})
        response.raise_for_status()
        self.headers = {"Authorization": f"Bearer {response.json()['token']}"}
        # Starts go through the lean client: httpx costs ~3.5 ms of CPU per request on the cores
        # the stack runs on (the plain side's starts go through the Temporal client).
        self.lean = LeanClient(self.stack.api_url, self.args.concurrency + 4)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.plain is not None:
            await self.plain[0].__aexit__(None, None, None)
            await self.plain[1].dispose()
        await self.http.aclose()
        await self.lean.aclose()
        await self.engine.dispose()

    async def create(self, document: dict[str, Any]) -> str:
        response = await self.http.post("/api/workflows/definitions", json=document, headers=self.headers)
        if response.status_code != 201:
            raise RuntimeError(f"creating {document['workflowId']}: {response.status_code} {response.text}")
        return str(document["workflowId"])

    async def start_ours(self, workflow_id: str, context: dict[str, Any]) -> tuple[str, float, float]:
        sent = time.time()
        response = await self.lean.post(
            "/api/workflows/instances",
            json={"workflowId": workflow_id, "initialContext": context},
            headers=self.headers,
        )
        took = time.time() - sent
        if response.status_code != 201:
            raise RuntimeError(f"start failed: {response.status_code} {response.text}")
        return str(response.json()["data"]["instance"]["id"]), sent, took

    async def start_plain(self, instance_id: str, context: dict[str, Any]) -> None:
        """Started, then, like our API's start admission (WORKFLOW_START_SETTLE_MS), answered once
        the workflow finished or after the same bound, so both sides get the same optimisation."""
        handle = await self.temporal.start_workflow(
            PlainCheckoutWorkflow.run,
            PlainInput(
                instance_id=uuid.UUID(instance_id), context=context, task_queue=PLAIN_QUEUE, email=self.args.email
            ),
            id=f"plain-{instance_id}",
            task_queue=PLAIN_QUEUE,
            request_eager_start=EAGER,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(handle.result(), SETTLE_S)

    @staticmethod
    def checkout_context(i: int) -> dict[str, Any]:
        return {"customerEmail": f"customer-{i}@bench.test", "orderId": i, "total": 42.5}

    async def ours_load(self, workflow_id: str, n: int, concurrency: int) -> Load:
        tracker = Tracker(self.engine, "workflow_instances")
        requests: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                instance_id, sent, took = await self.start_ours(workflow_id, self.checkout_context(i))
            tracker.sent[instance_id] = sent
            requests.append(took)

        starting = asyncio.ensure_future(asyncio.gather(*(one(i) for i in range(n))))
        await tracker.wait(starting, interval=0.05)
        await starting
        return tracker.result(requests)

    async def plain_load(self, n: int, concurrency: int) -> Load:
        tracker = Tracker(self.engine, "bench_plain_instances")
        requests: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            instance_id = str(uuid.uuid4())
            async with gate:
                sent = time.time()
                tracker.sent[instance_id] = sent
                await self.start_plain(instance_id, self.checkout_context(i))
                requests.append(time.time() - sent)

        starting = asyncio.ensure_future(asyncio.gather(*(one(i) for i in range(n))))
        await tracker.wait(starting, interval=0.05)
        await starting
        return tracker.result(requests)

    async def sequential(self, start: Callable[[int], Awaitable[tuple[str, float]]], table: str, n: int) -> Load:
        """One instance at a time; returns latencies to completed_at (and, in `requests`, to the
        moment Postgres showed COMPLETED)."""
        latencies, observed = [], []
        for i in range(n):
            tracker = Tracker(self.engine, table)
            instance_id, sent = await start(i)
            tracker.sent[instance_id] = sent
            await tracker.wait(None, interval=0.005, within=60)
            latencies.append(tracker.completed_at[instance_id] - sent)
            observed.append(tracker.seen_at[instance_id] - sent)
        return Load(throughput=math.nan, latencies=latencies, requests=observed)

    async def closed_loop(
        self, start: Callable[[int], Awaitable[tuple[str, float]]], table: str, clients: int, each: int
    ) -> Load:
        """`clients` clients, each starting an instance and waiting until its row shows COMPLETED
        before starting the next. One poller watches every client's instance (every 10 ms)."""
        waiting: dict[str, asyncio.Future[float]] = {}
        latencies: list[float] = []
        sent_at: dict[str, float] = {}
        done = asyncio.Event()

        async def poller() -> None:
            while not done.is_set():
                if waiting:
                    async with self.engine.connect() as conn:
                        rows = (
                            await conn.execute(
                                text(
                                    f"SELECT id::text, status, {WRITTEN_AT[table]} FROM {table} "
                                    "WHERE id = ANY(CAST(:ids AS uuid[]))"
                                ),
                                {"ids": list(waiting)},
                            )
                        ).all()
                    for instance_id, status, completed_at in rows:
                        if status in TERMINAL and instance_id in waiting:
                            future = waiting.pop(instance_id)
                            if status != "COMPLETED":
                                future.set_exception(RuntimeError(f"instance {instance_id} ended {status}"))
                            else:
                                future.set_result(completed_at.timestamp())
                await asyncio.sleep(0.01)

        counter = iter(range(clients * each))

        async def client() -> None:
            for i in counter:
                instance_id, sent = await start(i)
                sent_at[instance_id] = sent
                future = asyncio.get_running_loop().create_future()
                waiting[instance_id] = future
                latencies.append(await asyncio.wait_for(future, 120) - sent)

        watching = asyncio.ensure_future(poller())
        began = time.time()
        try:
            await asyncio.gather(*(client() for _ in range(clients)))
        finally:
            done.set()
            await watching
        return Load(throughput=len(latencies) / (time.time() - began), latencies=latencies)

    async def breakdown(self, load: Load, workflow_prefix: str, sample: int = 40) -> dict[str, list[float]]:
        """Where each instance's time went, from its Temporal history (a sample of the load):
        `accept` (start sent -> Temporal recorded the start: the API's work for ours), `queued`
        (workflow tasks waiting in the task queue for a worker), `work` (workflow tasks running on
        the worker, local activities included), `between` (the rest: timers, activities queued or
        running) and `total`, in seconds."""
        from temporalio.api.enums.v1 import EventType

        parts: dict[str, list[float]] = {"accept": [], "queued": [], "work": [], "between": [], "total": []}
        for instance_id in list(load.sent)[:: max(1, len(load.sent) // sample)][:sample]:
            history = await self.temporal.get_workflow_handle(f"{workflow_prefix}{instance_id}").fetch_history()
            times = [(e.event_type, e.event_time.ToDatetime().timestamp()) for e in history.events]
            start, end = times[0][1], times[-1][1]
            queued = work = 0.0
            scheduled = started = None
            for kind, at in times:
                if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                    scheduled = at
                elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and scheduled is not None:
                    queued += at - scheduled
                    started = at
                elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and started is not None:
                    work += at - started
                    started = None
            accept = start - load.sent[instance_id]
            total = end - load.sent[instance_id]
            for key, value in (("accept", accept), ("queued", queued), ("work", work),
                               ("between", total - accept - queued - work), ("total", total)):  # fmt: skip
                parts[key].append(value)
        return parts

    async def ours_one(self, workflow_id: str, i: int) -> tuple[str, float]:
        instance_id, sent, _ = await self.start_ours(workflow_id, self.checkout_context(i))
        return instance_id, sent

    async def plain_one(self, i: int) -> tuple[str, float]:
        instance_id = str(uuid.uuid4())
        sent = time.time()
        await self.start_plain(instance_id, self.checkout_context(i))
        return instance_id, sent

    async def wait_rows(self, ids: list[str], condition: str, within: float = 120) -> None:
        deadline = time.monotonic() + within
        while True:
            async with self.engine.connect() as conn:
                ready = await conn.scalar(
                    text(
                        f"SELECT count(*) FROM workflow_instances WHERE id = ANY(CAST(:ids AS uuid[])) AND {condition}"
                    ),
                    {"ids": ids},
                )
            if ready == len(ids):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {ready}/{len(ids)} instances reached {condition}")
            await asyncio.sleep(0.05)

    async def start_batch(self, workflow_id: str, n: int) -> list[str]:
        gate = asyncio.Semaphore(self.args.concurrency)

        async def one(i: int) -> str:
            async with gate:
                return (await self.start_ours(workflow_id, {"n": i}))[0]

        return list(await asyncio.gather(*(one(i) for i in range(n))))

    async def round_trips(self, ids: list[str], path: str, body: dict[str, Any]) -> list[float]:
        took = []
        for instance_id in ids:
            sent = time.perf_counter()
            response = await self.http.post(
                f"/api/workflows/instances/{instance_id}/{path}", json=body, headers=self.headers
            )
            took.append(time.perf_counter() - sent)
            if response.status_code != 200:
                raise RuntimeError(f"{path} failed: {response.status_code} {response.text}")
        return took


SIGNAL_FLOW = {
    "workflowId": "bench-signal",
    "workflowName": "Bench: wait for a signal",
    "definition": {
        "steps": [
            {"stepId": "start", "stepName": "Start", "stepType": "START"},
            {"stepId": "wait", "stepName": "Wait", "stepType": "WAIT_FOR_SIGNAL", "signalConfig": {"signalName": "go"}},
            {"stepId": "end", "stepName": "End", "stepType": "END"},
        ],
        "transitions": [
            {"transitionId": "to-wait", "fromStepId": "start", "toStepId": "wait", "trigger": "auto"},
            {"transitionId": "go", "fromStepId": "wait", "toStepId": "end", "trigger": "signal"},
        ],
    },
}
ADVANCE_FLOW = {
    "workflowId": "bench-advance",
    "workflowName": "Bench: manual advance",
    "definition": {
        "steps": [
            {"stepId": "start", "stepName": "Start", "stepType": "START"},
            {"stepId": "hold", "stepName": "Hold", "stepType": "AUTOMATED"},
            {"stepId": "end", "stepName": "End", "stepType": "END"},
        ],
        "transitions": [
            {"transitionId": "to-hold", "fromStepId": "start", "toStepId": "hold", "trigger": "auto"},
            {"transitionId": "release", "fromStepId": "hold", "toStepId": "end", "trigger": "manual"},
        ],
    },
}


@dataclass
class Results:
    ours: list[Load]
    plain: list[Load]
    seq_ours: Load
    seq_plain: Load
    signal: list[float]
    advance: list[float]
    load: tuple[float, float]
    closed_ours: Load
    closed_plain: Load
    memory: dict[str, float]  # peak RSS MiB per part of the stack
    where_ours: dict[str, list[float]]  # Bench.breakdown of a sample of the last load round
    where_plain: dict[str, list[float]]


async def with_cpu(stack: Stack, n: int, run: Awaitable[Load]) -> Load:
    before, own = stack.cpu(), time.process_time()
    load = await run
    after = stack.cpu()
    load.cpu = {name: (after[name] - before.get(name, 0.0)) * 1000 / n for name in after}
    # This process: the load generator, and with eager starts also the plain side's worker.
    load.cpu["bench"] = (time.process_time() - own) * 1000 / n
    return load


def own_peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def checkout_document(email: bool) -> dict[str, Any]:
    """The contract's checkout flow; without e-mail (the reference's scenario) its activities go."""
    document: dict[str, Any] = json.loads(CHECKOUT.read_text())
    if not email:
        document["workflowId"] = f"{document['workflowId']}-no-email"
        for item in [*document["definition"]["steps"], *document["definition"]["transitions"]]:
            item.pop("activities", None)
    return document


async def measure(stack: Stack, args: argparse.Namespace) -> Results:
    load_before = os.getloadavg()[0]
    async with Bench(stack, args) as bench:
        checkout = await bench.create(checkout_document(args.email))
        await bench.create(SIGNAL_FLOW)
        await bench.create(ADVANCE_FLOW)
        if args.warmup:
            say(f"warm-up: {args.warmup} of each")
            await bench.ours_load(checkout, args.warmup, args.concurrency)
            await bench.plain_load(args.warmup, args.concurrency)
        ours: list[Load] = []
        plain: list[Load] = []

        async def run_ours() -> None:
            ours.append(
                await with_cpu(stack, args.instances, bench.ours_load(checkout, args.instances, args.concurrency))
            )
            say(f"  ours {ours[-1].throughput:.1f}/s")

        async def run_plain() -> None:
            plain.append(await with_cpu(stack, args.instances, bench.plain_load(args.instances, args.concurrency)))
            say(f"  plain {plain[-1].throughput:.1f}/s")

        for r in range(args.rounds):
            stack.check_children()
            # The side that goes first alternates, so neither always runs on a warmer (or busier) machine.
            order = (run_ours, run_plain) if r % 2 == 0 else (run_plain, run_ours)
            say(f"round {r + 1}/{args.rounds}: {args.instances} instances at concurrency {args.concurrency}, "
                f"{'ours' if r % 2 == 0 else 'plain'} first")  # fmt: skip
            for run in order:
                await run()
        say("where the time went: histories of a sample of the last round's instances")
        where_ours = await bench.breakdown(ours[-1], "wf-")
        where_plain = await bench.breakdown(plain[-1], "plain-")
        say(f"closed loop: {args.concurrency} clients x {args.closed_each}, each waiting for COMPLETED")
        closed_ours = await bench.closed_loop(
            lambda i: bench.ours_one(checkout, i), "workflow_instances", args.concurrency, args.closed_each
        )
        closed_plain = await bench.closed_loop(
            bench.plain_one, "bench_plain_instances", args.concurrency, args.closed_each
        )
        say(f"one at a time: {args.sequential} of each")
        seq_ours = await bench.sequential(lambda i: bench.ours_one(checkout, i), "workflow_instances", args.sequential)
        seq_plain = await bench.sequential(bench.plain_one, "bench_plain_instances", args.sequential)
        say(f"signal and advance round trips: {args.round_trips} of each")
        waiting = await bench.start_batch("bench-signal", args.round_trips)
        resting = await bench.start_batch("bench-advance", args.round_trips)
        await bench.wait_rows(waiting, "status = 'PAUSED'")
        await bench.wait_rows(resting, "current_step_id = 'hold'")
        signal_rt = await bench.round_trips(waiting, "signal", {"signalName": "go", "payload": {"ok": True}})
        advance_rt = await bench.round_trips(resting, "advance", {})
        await bench.wait_rows(waiting + resting, "status = 'COMPLETED'")
        stack.check_children()
        return Results(
            ours, plain, seq_ours, seq_plain, signal_rt, advance_rt, (load_before, os.getloadavg()[0]),
            closed_ours, closed_plain, {**stack.memory(), **({"plain-worker": own_peak_mib()} if EAGER else {})}, where_ours, where_plain,
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Report


def ms(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.0f} / {pair[1]:.0f} ms"


def report(results: Results, args: argparse.Namespace, elapsed: float) -> tuple[str, bool]:
    ours_tp = statistics.median(load.throughput for load in results.ours)
    plain_tp = statistics.median(load.throughput for load in results.plain)
    ratio = ours_tp / plain_tp
    ours_lat = p50_p99([x for load in results.ours for x in load.latencies])
    plain_lat = p50_p99([x for load in results.plain for x in load.latencies])
    ours_req = p50_p99([x for load in results.ours for x in load.requests])
    plain_req = p50_p99([x for load in results.plain for x in load.requests])
    seq_ours = p50_p99(results.seq_ours.latencies)
    seq_ours_seen = p50_p99(results.seq_ours.requests)
    seq_plain = p50_p99(results.seq_plain.latencies)
    signal_rt = p50_p99(results.signal)
    advance_rt = p50_p99(results.advance)
    ours_cpu = {k: statistics.median(load.cpu[k] for load in results.ours) for k in results.ours[0].cpu}
    plain_cpu = {k: statistics.median(load.cpu[k] for load in results.plain) for k in results.plain[0].cpu}
    ours_parts = {"worker": ours_cpu["worker"], "API": ours_cpu["api"]}
    # With eager starts the plain worker runs in this process: its CPU then includes the plain
    # side's client (starts and results), which ours does not count (its load generator).
    plain_parts = {"worker": plain_cpu.get("plain-worker", plain_cpu["bench"])}
    for parts, cpu in ((ours_parts, ours_cpu), (plain_parts, plain_cpu)):
        parts.update(Temporal=cpu["temporal"], Postgres=cpu["postgres"])
    ours_total, plain_total = sum(ours_parts.values()), sum(plain_parts.values())
    cores = os.cpu_count() or 1

    def cpu_cell(parts: dict[str, float], total: float) -> str:
        return f"{total:.0f} ms ({', '.join(f'{k} {v:.0f}' for k, v in parts.items())})"

    closed_ours, closed_plain = p50_p99(results.closed_ours.latencies), p50_p99(results.closed_plain.latencies)
    memory = results.memory
    ours_mem = ", ".join(f"{k} {memory[k]:.0f}" for k in ("api", "worker", "temporal", "postgres") if k in memory)
    goals = [
        (f"throughput ours/plain >= 0.9 (measured {ratio:.2f})", ratio >= 0.9),
        (f"throughput >= 3x Open Mercato's quoted {OM_THROUGHPUT}/s (measured {ours_tp:.1f}/s)", ours_tp >= 3 * OM_THROUGHPUT),
        (f"under that load, start -> COMPLETED p50 / p99 below Open Mercato's quoted {ms(OM_LATENCY)} "
         f"(measured {ms(ours_lat)})", ours_lat[0] < OM_LATENCY[0] and ours_lat[1] < OM_LATENCY[1]),
        (f"one at a time, POST -> row visible COMPLETED p50 < 50 ms (measured {seq_ours_seen[0]:.0f} ms)",
         seq_ours_seen[0] < 50),
    ]  # fmt: skip
    summary = {
        "load_average": results.load,
        "rows": [
            ["checkout flow, instances/s", f"{ours_tp:.1f}", f"{plain_tp:.1f}", f"{ratio:.2f}", f"{OM_THROUGHPUT}"],
            ["POST -> COMPLETED p50 / p99 under that load", ms(ours_lat), ms(plain_lat), "", ms(OM_LATENCY)],
            ["start request p50 / p99", ms(ours_req), ms(plain_req), "", ms(OM_REQUEST)],
            [f"closed loop ({args.concurrency} clients), instances/s", f"{results.closed_ours.throughput:.1f}",
             f"{results.closed_plain.throughput:.1f}",
             f"{results.closed_ours.throughput / results.closed_plain.throughput:.2f}", ""],
            ["closed loop POST -> COMPLETED p50 / p99", ms(closed_ours), ms(closed_plain), "", ""],
            ["one at a time, POST -> row visible COMPLETED p50 / p99", ms(seq_ours_seen), ms(seq_plain), "", ""],
            ["CPU per instance", f"{ours_total:.0f} ms", f"{plain_total:.0f} ms", f"{ours_total / plain_total:.2f}", ""],
            ["under load, p50 ms of accept / queued / work / between (Temporal histories)",
             " / ".join(f"{pct(results.where_ours[k], 50) * 1000:.0f}" for k in ("accept", "queued", "work", "between")),
             " / ".join(f"{pct(results.where_plain[k], 50) * 1000:.0f}" for k in ("accept", "queued", "work", "between")),
             "", ""],
            ["peak memory (MiB)", ours_mem, f"plain worker {memory.get('plain-worker', 0):.0f}", "", ""],
        ],
    }  # fmt: skip
    args.output.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    rounds = ""
    if args.rounds > 1:
        rounds = (
            "\nPer round, instances/s: ours "
            + ", ".join(f"{load.throughput:.1f}" for load in results.ours)
            + "; plain "
            + ", ".join(f"{load.throughput:.1f}" for load in results.plain)
            + " (the table gives medians).\n"
        )
    lines = [
        "# Workflow engine benchmark",
        "",
        f"`make bench` (`.venv/bin/python bench/bench_workflows.py`), {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{subprocess.run([temporal_binary(), '--version'], capture_output=True, text=True).stdout.strip()}.",
        "Embedded stack as `make run` starts it: embedded Postgres, Temporal dev server on SQLite "
        "(WAL, synchronous=NORMAL), the production worker and the API (uvicorn) in their own processes; "
        + (
            "starts are eager (each API process hosts a worker, server/app.py), and the plain workflow's worker, "
            "with the same runner configuration, runs in the load generator's process, sharing the client that "
            "starts its workflows (its CPU below includes that client's)."
            if EAGER
            else "the plain workflow has its own worker process with the same runner configuration."
        )
        + (f" Dev-server dynamic config: {', '.join(args.temporal_config)}." if args.temporal_config else ""),
        f"Load: {args.instances} checkout instances at concurrency {args.concurrency}, {args.rounds} round(s) after "
        f"{args.warmup} warm-up instances; {args.sequential} one at a time; {args.round_trips} signal and advance "
        f"calls one at a time. Latency = the finished row's write (ours `updated_at`, plain `written_at`) - the moment the start was sent. "
        f"Run took {elapsed:.0f} s; load average {results.load[0]:.1f} at the start, {results.load[1]:.1f} at the end "
        f"(other processes share the machine; compare the two columns of one run rather than runs).",
        "",
        "| figure | Covo (checkout flow via HTTP API) | plain Temporal workflow | ours / plain "
        f"| Open Mercato ({OM_SOURCE}) | raw Temporal (reference) |",
        "|---|---|---|---|---|---|",
        f"| instances/s | {ours_tp:.1f} | {plain_tp:.1f} | **{ratio:.2f}** | {OM_THROUGHPUT} | {RAW_THROUGHPUT} |",
        f"| CPU per instance | {cpu_cell(ours_parts, ours_total)} | {cpu_cell(plain_parts, plain_total)} "
        f"| {plain_total / ours_total:.2f} (plain/ours) | | |",
        f"| CPU-bound ceiling on {cores} cores (cores / CPU per instance) | {cores * 1000 / ours_total:.1f}/s "
        f"| {cores * 1000 / plain_total:.1f}/s | {plain_total / ours_total:.2f} | | |",
        f"| start -> COMPLETED p50 / p99 | {ms(ours_lat)} | {ms(plain_lat)} | | {ms(OM_LATENCY)} | |",
        f"| start request p50 / p99 (answered on settlement, at most {SETTLE_S:g} s) | {ms(ours_req)} (HTTP) "
        f"| {ms(plain_req)} (start_workflow + result) | "
        f"| {ms(OM_REQUEST)} | |",
        f"| one at a time: start -> COMPLETED p50 / p99 | {ms(seq_ours)} (row visible: {ms(seq_ours_seen)}) "
        f"| {ms(seq_plain)} | | | {RAW_ONE_STEP} |",
        f"| closed loop, {args.concurrency} clients each waiting for COMPLETED: instances/s "
        f"| {results.closed_ours.throughput:.1f} | {results.closed_plain.throughput:.1f} "
        f"| {results.closed_ours.throughput / results.closed_plain.throughput:.2f} | | |",
        f"| closed loop: start -> COMPLETED p50 / p99 | {ms(closed_ours)} | {ms(closed_plain)} | | | |",
        f"| peak memory (VmHWM, MiB, largest process of each part) | {ours_mem} "
        f"| plain worker {memory.get('plain-worker', 0):.0f} (shares Temporal and Postgres) | | | |",
        f"| signal round trip p50 / p99 | {ms(signal_rt)} | | | | {RAW_UPDATE} |",
        f"| advance round trip p50 / p99 | {ms(advance_rt)} | | | | |",
        rounds,
        "Where an instance's time went under that load (a sample of the last round, from Temporal's histories; "
        "p50 / p99 of each part): accept = start sent -> Temporal recorded it (ours: the HTTP request and the "
        "API's work), queued = workflow tasks waiting for a worker, work = workflow tasks running on the worker "
        "(local activities included), between = the rest.",
        "",
        "| part | Covo | plain |",
        "|---|---|---|",
        *(
            f"| {part} | {ms(p50_p99(results.where_ours[part]))} | {ms(p50_p99(results.where_plain[part]))} |"
            for part in results.where_ours
        ),
        "",
        (
            "Flow: the checkout flow without its e-mail (the reference's scenario); `--email` keeps it. "
            if not args.email
            else "Flow: the checkout flow with its SEND_EMAIL (`--email`). "
        )
        + "Plain workflow: the same steps written by hand: "
        + (
            "one activity that enqueues the confirmation in mail_outbox (`enqueue_once`) and delivers it "
            "(as SEND_EMAIL does), then "
            if args.email
            else ""
        )
        + "one local activity writing the final state row. Ours also writes the instance row at start and, at the end, the "
        "11 events and 3 step rows of the read model. CPU per instance is measured from /proc over each load "
        "run (the load generator, this script, is not counted; the plain row's starts come from it, ours go "
        "through the API, which is counted); it depends much less than the timings on what else the machine runs. "
        f"Start admission: our API answers a start once its instance left RUNNING or after {SETTLE_S:g} s "
        "(`WORKFLOW_START_SETTLE_MS`); the plain side's start waits for the workflow's result with the same bound, "
        "so a client's concurrency bounds the instances in flight on both sides.",
        "",
        "Goals:",
        *(f"- [{'x' if ok else ' '}] {text_}" for text_, ok in goals),
        "",
    ]
    return "\n".join(lines), all(ok for _, ok in goals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=200, help="checkout instances per load run (default 200)")
    parser.add_argument("--concurrency", type=int, default=20, help="starts in flight at once (default 20)")
    parser.add_argument("--sequential", type=int, default=30, help="instances run one at a time (default 30)")
    parser.add_argument("--round-trips", type=int, default=30, help="signal and advance calls (default 30)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up instances of each kind (default 20)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="load rounds, the side going first alternating (default 3)"
    )
    parser.add_argument("--closed-each", type=int, default=5, help="closed loop: instances per client (default 5)")
    parser.add_argument(
        "--temporal-config", action="append", default=[], metavar="KEY=VALUE",
        help="a dynamic-config value for the dev server (repeatable), to measure a server setting",
    )  # fmt: skip
    parser.add_argument("--email", action="store_true", help="keep the flow's SEND_EMAIL (the reference ran without)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stack directory (logs)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--plain-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_worker:
        uvloop.run(run_plain_worker())  # as workers/main.py
        return 0

    stack = Stack(
        keep=args.keep,
        temporal_config=tuple(args.temporal_config),
        setup_sql=[PLAIN_TABLE],
        extra_children=[]
        if EAGER
        else [("plain-worker", [sys.executable, str(Path(__file__).resolve()), "--plain-worker"])],
    )
    goals_met: list[bool] = []

    def render(results: Results, elapsed: float) -> str:
        table, met = report(results, args, elapsed)
        goals_met.append(met)
        return table

    # uvloop: with eager starts the plain worker runs in this process, as in workers/main.py.
    code = run(stack, lambda: uvloop.run(measure(stack, args)), render, args.output)
    if code == 0 and args.strict and not all(goals_met):
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
