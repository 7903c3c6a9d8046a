"""The scheduler on the embedded stack.

Starts its own stack in a temporary directory the way `make run` does (embedded Postgres, Temporal
dev server on SQLite, the production worker `python -m workers`, the API under uvicorn), then:

  a) idle CPU of the stack with no jobs (the baseline), for --idle-seconds;
  b) creates --jobs hourly cron jobs through `POST /api/scheduler/jobs` at concurrency
     --concurrency (jobs/s: each is a row and a Temporal Schedule), then lists them
     (`GET /api/scheduler/jobs?pageSize=100`, random pages, one at a time: p50/p99);
  c) idle CPU again with those jobs enabled (their minute is chosen so none fires meanwhile);
  d) --firing-jobs jobs with a 10 s interval for --firing-seconds: firing skew p50/p99/max, the
     `startedAt - scheduledAt` of each recorded run (the schedule starts the ScheduledJobRun
     workflow, which records the run in its first activity), and how many firings were recorded.

Prints a table and writes it to bench/results/scheduler.md.

Usage: ``.venv/bin/python bench/bench_scheduler.py [--jobs 1000] [--firing-jobs 200]
[--firing-seconds 120] [--idle-seconds 60]``. Every process it starts is stopped on exit or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from stack import ADMIN_EMAIL, Stack, say
from stack import run as run_bench
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from engine.temporal.client import connect

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "scheduler.md"
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def pct(values: Iterable[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def job(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name, "scopeType": "tenant", "targetType": "command", "targetCommand": "scheduler.test.echo",
        "targetPayload": {"bench": True}, **fields,
    }  # fmt: skip


async def in_parallel(count: int, concurrency: int, call: Any) -> list[float]:
    latencies: list[float] = []
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            began = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def idle_cpu(stack: Stack, seconds: float) -> dict[str, float]:
    """CPU share (% of one core) of each part of the stack over `seconds` of doing nothing."""
    before = stack.cpu()
    await asyncio.sleep(seconds)
    after = stack.cpu()
    return {name: (after[name] - before.get(name, 0.0)) / seconds * 100 for name in after}


async def skews(database_url: str, since: datetime) -> tuple[list[float], int]:
    from sqlalchemy import text

    from engine.db.session import create_engine

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT extract(epoch FROM started_at - scheduled_at) FROM scheduled_job_runs "
                        "WHERE trigger_type = 'scheduled' AND scheduled_at >= :since AND status = 'completed'"
                    ),
                    {"since": since},
                )
            ).all()
    finally:
        await engine.dispose()
    return [float(r[0]) for r in rows], len(rows)


async def started_skews(temporal: Client, workflow_type: str, since: datetime) -> list[float]:
    """Workflow start time - the firing's scheduled time, for every workflow a schedule started."""
    values = []
    async for execution in temporal.list_workflows(f"WorkflowType = '{workflow_type}'"):
        scheduled = execution.typed_search_attributes.get(SCHEDULED_START)
        if scheduled is not None and scheduled >= since:
            values.append((execution.start_time - scheduled).total_seconds())
    return values


async def plain_schedules(
    stack: Stack, temporal: Client, args: argparse.Namespace
) -> tuple[list[float], dict[str, float]]:
    """The same load as bare Temporal Schedules starting a workflow no worker runs (each times out
    after 5 s; overlap ALLOW_ALL): what Temporal alone costs, on the same server in the same run."""
    ids = [f"bench-plain-{i}" for i in range(args.firing_jobs)]
    for schedule_id in ids:
        await temporal.create_schedule(
            schedule_id,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    "BenchNoop", id=schedule_id, task_queue="bench-nobody", execution_timeout=timedelta(seconds=5)
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=10))]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
            ),
        )
    start = datetime.fromtimestamp(math.ceil(time.time() / 10) * 10, UTC)
    before = stack.cpu()
    await asyncio.sleep(args.firing_seconds)
    after = stack.cpu()
    for schedule_id in ids:
        await temporal.get_schedule_handle(schedule_id).delete()
    await asyncio.sleep(5)
    cpu = {k: (after[k] - before.get(k, 0)) / args.firing_seconds * 100 for k in after}
    return await started_skews(temporal, "BenchNoop", start), cpu


async def measure(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=120) as http:
        login = await http.post("/api/auth/login", data={"email": ADMIN_EMAIL, "password": stack.password})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}

        await asyncio.sleep(15)  # the worker's start-up (imports, reconcile) is not idling
        say(f"idle baseline, {args.idle_seconds}s")
        out["idle_empty"] = await idle_cpu(stack, args.idle_seconds)

        # A minute as far as possible from now, so none of the hourly jobs fires during the bench.
        minute = (datetime.now(UTC).minute + 30) % 60

        async def create(i: int) -> None:
            response = await http.post(
                "/api/scheduler/jobs",
                json=job(f"hourly {i}", scheduleType="cron", scheduleValue=f"{minute} * * * *"),
                headers=headers,
            )
            assert response.status_code == 201, response.text

        say(f"creating {args.jobs} hourly jobs")
        began = time.perf_counter()
        out["create_latencies"] = await in_parallel(args.jobs, args.concurrency, create)
        out["create_elapsed"] = time.perf_counter() - began
        pages = math.ceil(args.jobs / 100)

        async def page(_: int) -> None:
            response = await http.get(
                "/api/scheduler/jobs", params={"pageSize": 100, "page": random.randint(1, pages)}, headers=headers
            )
            assert response.status_code == 200, response.text

        out["list_latencies"] = await in_parallel(args.list_requests, 1, page)
        stack.check_children()

        say(f"idle with {args.jobs} enabled hourly jobs, {args.idle_seconds}s")
        out["idle_jobs"] = await idle_cpu(stack, args.idle_seconds)

        say(f"{args.firing_jobs} jobs every 10 s for {args.firing_seconds}s")
        ids: list[str] = []

        async def create_interval(i: int) -> None:
            response = await http.post(
                "/api/scheduler/jobs", json=job(f"every 10s {i}", scheduleType="interval", scheduleValue="10s"),
                headers=headers,
            )  # fmt: skip
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])

        await in_parallel(args.firing_jobs, args.concurrency, create_interval)
        # Firings scheduled from the next 10 s boundary on are counted (all jobs exist by then).
        start = datetime.fromtimestamp(math.ceil(time.time() / 10) * 10, UTC)
        cpu_before = stack.cpu()
        await asyncio.sleep(args.firing_seconds)
        cpu_after = stack.cpu()
        out["firing_cpu"] = {k: (cpu_after[k] - cpu_before.get(k, 0)) / args.firing_seconds * 100 for k in cpu_after}
        end = datetime.now(UTC)

        temporal = await connect(stack.env["TEMPORAL_ADDRESS"])
        skipped = 0
        for job_id in ids:
            try:
                description = await temporal.get_schedule_handle(f"sched-{job_id}").describe()
            except RPCError as exc:  # an overloaded dev server times out; the count is then a floor
                say(f"describe sched-{job_id}: {exc}")
                continue
            skipped += description.info.num_actions_skipped_overlap

        async def remove(i: int) -> None:
            await http.request("DELETE", "/api/scheduler/jobs", json={"id": ids[i]}, headers=headers)

        await in_parallel(len(ids), args.concurrency, remove)
        await asyncio.sleep(15)  # runs in flight finish and record
        stack.check_children()
        values, count = await skews(stack.env["DATABASE_URL"], start)
        out["skews"] = values
        out["expected_firings"] = args.firing_jobs * int((end - start).total_seconds() // 10 + 1)
        out["recorded_firings"] = count
        out["skipped_overlap"] = skipped
        out["ours_started"] = await started_skews(temporal, "ScheduledJobRun", start)
        stack.check_children()
        say(f"baseline: {args.firing_jobs} plain Temporal Schedules every 10 s for {args.firing_seconds}s")
        out["plain_started"], out["plain_cpu"] = await plain_schedules(stack, temporal, args)
    return out


def report(out: dict[str, Any], args: argparse.Namespace, elapsed: float) -> str:
    ms = 1000
    create, listing, skew = out["create_latencies"], out["list_latencies"], out["skews"]
    ours, plain = out["ours_started"], out["plain_started"]

    def cpu(d: dict[str, float]) -> str:
        return f"{sum(d.values()):.1f}% ({', '.join(f'{k} {v:.1f}' for k, v in sorted(d.items()))})"

    lines = [
        "# Scheduler benchmark",
        "",
        f"`.venv/bin/python bench/bench_scheduler.py --jobs {args.jobs} --firing-jobs {args.firing_jobs} "
        f"--firing-seconds {args.firing_seconds} --idle-seconds {args.idle_seconds}` (`make bench-scheduler`), "
        f"{platform.machine()} with {os.cpu_count()} cores shared with other work, "
        f"{datetime.now(UTC):%Y-%m-%d}, {elapsed:.0f} s in all. Embedded stack: Postgres, Temporal dev server "
        "(SQLite), one worker, one API process.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| create {args.jobs} jobs (row + Temporal Schedule), concurrency {args.concurrency} | "
        f"{len(create) / out['create_elapsed']:.1f} jobs/s; request p50 {pct(create, 50) * ms:.0f} ms, "
        f"p99 {pct(create, 99) * ms:.0f} ms |",
        f"| list (pageSize 100 of {args.jobs}, nextRunAt computed per row), {args.list_requests} requests | "
        f"p50 {pct(listing, 50) * ms:.1f} ms, p99 {pct(listing, 99) * ms:.1f} ms |",
        f"| firing skew (startedAt - scheduledAt), {args.firing_jobs} jobs every 10 s for {args.firing_seconds} s | "
        f"p50 {pct(skew, 50) * ms:.0f} ms, p99 {pct(skew, 99) * ms:.0f} ms, max {max(skew, default=math.nan) * ms:.0f} ms |",
        f"| firings recorded / due (skipped by overlap SKIP: {out['skipped_overlap']}) | "
        f"{out['recorded_firings']} / {out['expected_firings']} |",
        f"| workflow start skew (Temporal start time - scheduledAt): ours | "
        f"p50 {pct(ours, 50) * ms:.0f} ms, p99 {pct(ours, 99) * ms:.0f} ms ({len(ours)} starts) |",
        f"| the same for bare Temporal Schedules, same load and server (baseline) | "
        f"p50 {pct(plain, 50) * ms:.0f} ms, p99 {pct(plain, 99) * ms:.0f} ms ({len(plain)} starts) |",
        f"| CPU while firing (% of one core) | {cpu(out['firing_cpu'])} |",
        f"| CPU while bare schedules fire (baseline) | {cpu(out['plain_cpu'])} |",
        f"| idle CPU, no jobs (baseline, % of one core) | {cpu(out['idle_empty'])} |",
        f"| idle CPU, {args.jobs} enabled hourly jobs | {cpu(out['idle_jobs'])} |",
        "",
        "Firing skew includes Temporal's schedule processing, the workflow task and the first activity "
        "(which records the run). All 10 s jobs fire at the same instants (intervals count from the "
        "epoch), so each firing is a burst of that many workflows; `jitterSeconds` spreads them.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=1000, help="hourly jobs created, listed and left idle")
    parser.add_argument("--concurrency", type=int, default=10, help="create requests in flight at once")
    parser.add_argument("--list-requests", type=int, default=200, help="list requests measured")
    parser.add_argument("--firing-jobs", type=int, default=200, help="jobs firing every 10 s")
    parser.add_argument("--firing-seconds", type=int, default=120, help="how long they fire")
    parser.add_argument("--idle-seconds", type=int, default=60, help="each idle CPU window")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stack directory (logs)")
    args = parser.parse_args()

    stack = Stack(keep=args.keep)
    return run_bench(
        stack, lambda: asyncio.run(measure(stack, args)), lambda out, elapsed: report(out, args, elapsed), args.output
    )


if __name__ == "__main__":
    sys.exit(main())
