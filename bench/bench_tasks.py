"""The task inbox: task round trips, the inbox query over 100,000 tasks, and SSE fan-out.

Starts its own stack in a temporary directory the way `make run` does (embedded Postgres, Temporal
dev server, the production worker and the API under uvicorn with `--api-workers` processes), then
measures over HTTP:

  a) the task round trip: start an instance whose first step is a USER_TASK -> the task is visible
     in `GET /api/workflows/tasks` -> claim -> complete -> the instance is COMPLETED, one at a time
     and at concurrency C (goal: p99 < 250 ms one at a time);
  b) the inbox query (`myTasks=true`, open statuses, sorted by due date, 50 per page) for one user
     with 100,000 tasks in the table (a few hundred of them the user's), p50 / p99 (goal p99 < 50 ms);
  c) SSE fan-out: N clients connected to `GET /api/events/stream` (spread over the API processes);
     a notification is created and the time until every client has it is measured, 10 times.

Prints a table and writes it to bench/results/tasks.md.

Usage: ``.venv/bin/python bench/bench_tasks.py [--round-trips 100] [--concurrency 10]
[--tasks 100000] [--queries 300] [--clients 200]``. Every process it starts is stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from stack import ADMIN_EMAIL, Stack, run, say

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "tasks.md"
TASKS = "/api/workflows/tasks"


def pct(values: Iterable[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(values: list[float], p: float) -> str:
    return f"{pct(values, p) * 1000:.1f}"


class Bench:
    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str], user_id: str, workflow_id: str) -> None:
        self.http, self.headers, self.user_id, self.workflow_id = http, headers, user_id, workflow_id

    async def ok(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, headers=self.headers, **kwargs)
        if response.status_code != expected:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    async def round_trip(self) -> float:
        began = time.perf_counter()
        started = await self.ok("POST", "/api/workflows/instances", 201, json={"workflowId": self.workflow_id})
        instance_id = started["data"]["instance"]["id"]
        while True:
            found = await self.ok("GET", TASKS, params={"workflowInstanceId": instance_id, "status": "PENDING"})
            if found["data"]:
                break
            await asyncio.sleep(0.002)
        task_id = found["data"][0]["id"]
        await self.ok("POST", f"{TASKS}/{task_id}/claim")
        await self.ok("POST", f"{TASKS}/{task_id}/complete", json={"formData": {"approved": True}})
        while True:
            instance = await self.ok("GET", f"/api/workflows/instances/{instance_id}")
            if instance["data"]["status"] == "COMPLETED":
                break
            await asyncio.sleep(0.002)
        return time.perf_counter() - began

    async def round_trips(self, n: int, concurrency: int) -> tuple[list[float], float]:
        latencies: list[float] = []
        counter = iter(range(n))

        async def worker() -> None:
            for _ in counter:
                latencies.append(await self.round_trip())

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - began

    async def inbox_queries(self, n: int) -> tuple[list[float], int, list[float]]:
        """The inbox query, each followed by the baseline: an authenticated request that does
        almost nothing (`GET /api/notifications/unread-count`), so both see the same load."""
        params = {"myTasks": "true", "status": "PENDING,IN_PROGRESS,ESCALATED", "sortField": "dueDate",
                  "sortDir": "asc", "limit": "50"}  # fmt: skip
        latencies, baseline, total = [], [], 0
        for _ in range(n):
            began = time.perf_counter()
            body = await self.ok("GET", TASKS, params=params)
            latencies.append(time.perf_counter() - began)
            total = body["pagination"]["total"]
            began = time.perf_counter()
            await self.ok("GET", "/api/notifications/unread-count")
            baseline.append(time.perf_counter() - began)
        return latencies, total, baseline


async def fill_tasks(database_url: str, tenant_id: str, user_id: str, roles: list[str], n: int) -> None:
    """n tasks in one tenant: 0.2% assigned to the user, 0.2% in the user's role queue, the rest
    spread over 500 other users and a role the user does not hold; 5 in 7 of them closed."""
    import asyncpg

    from engine.notifications.live import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        instance = uuid.uuid4()
        await conn.execute(
            "INSERT INTO workflow_instances (id, tenant_id, definition_id, workflow_id, version, status, context,"
            " metadata, retry_count, projection_seq, created_at, updated_at)"
            " VALUES ($1, $2, $1, 'bench-fill', 1, 'PAUSED', '{}', '{}', 0, 0, now(), now())",
            instance, uuid.UUID(tenant_id),
        )  # fmt: skip
        await conn.execute(
            """
            INSERT INTO user_tasks (id, tenant_id, workflow_instance_id, task_name, status, assigned_to,
                                    assigned_to_roles, due_date, priority, projection_seq, created_at, updated_at)
            SELECT gen_random_uuid(), $1, $2, 'Task ' || g,
                   CASE WHEN g % 7 < 5 THEN 'COMPLETED' ELSE 'PENDING' END,
                   CASE WHEN g % 500 = 0 THEN $3
                        WHEN g % 500 = 1 THEN NULL
                        WHEN g % 2 = 0 THEN 'user-' || (g % 500) ELSE NULL END,
                   CASE WHEN g % 500 = 1 THEN to_jsonb($4::text[])
                        WHEN g % 2 = 1 THEN '["clerks"]'::jsonb ELSE NULL END,
                   now() + (g % 1000) * interval '1 hour', 50, 0, now(), now()
            FROM generate_series(1, $5) AS g
            """,
            uuid.UUID(tenant_id), instance, user_id, roles, n,
        )  # fmt: skip
        await conn.execute("ANALYZE user_tasks")
    finally:
        await conn.close()


async def fan_out(stack: Stack, bench: Bench, token: str, clients: int, rounds: int) -> list[float]:
    """Seconds from sending a notification until the last of `clients` streams has it."""
    received: list[asyncio.Queue[tuple[str, float]]] = [asyncio.Queue() for _ in range(clients)]
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=None, limits=limits) as streams:
        opened = asyncio.Semaphore(0)

        async def listen(queue: asyncio.Queue[tuple[str, float]]) -> None:
            headers = {"Authorization": f"Bearer {token}"}  # a bearer token never goes into the URL
            async with streams.stream("GET", "/api/events/stream", headers=headers) as response:
                opened.release()
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        data = json.loads(line[6:])
                        if data.get("kind") == "notification":
                            queue.put_nowait((str(data["id"]), time.perf_counter()))

        readers = [asyncio.create_task(listen(q)) for q in received]
        for _ in range(clients):
            await asyncio.wait_for(opened.acquire(), 60)
        await asyncio.sleep(1)
        spreads = []
        try:
            for i in range(rounds):
                began = time.perf_counter()
                sent = await bench.ok("POST", "/api/notifications", 201,
                                      json={"type": "bench", "title": f"ping {i}", "recipientUserId": bench.user_id})  # fmt: skip
                last = began
                for queue in received:
                    while True:
                        note_id, at = await asyncio.wait_for(queue.get(), 60)
                        if note_id == sent["id"]:
                            last = max(last, at)
                            break
                spreads.append(last - began)
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
    return spreads


async def measure(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.concurrency + 5)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60, limits=limits) as http:
        login = await http.post("/api/auth/login", data={"email": ADMIN_EMAIL, "password": stack.password})
        login.raise_for_status()
        token = login.json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        profile = (await http.get("/api/auth/profile", headers=headers)).json()
        user_id, tenant_id = str(profile["id"]), str(profile["tenantId"])
        roles = [r for r in ("admin", "superadmin")]
        definition = {
            "workflowId": "bench-task", "workflowName": "bench-task",
            "definition": {
                "steps": [
                    {"stepId": "start", "stepName": "Start", "stepType": "START"},
                    {"stepId": "review", "stepName": "Review", "stepType": "USER_TASK",
                     "userTaskConfig": {"assignedTo": user_id}},
                    {"stepId": "end", "stepName": "End", "stepType": "END"},
                ],
                "transitions": [
                    {"transitionId": "a", "fromStepId": "start", "toStepId": "review", "trigger": "auto"},
                    {"transitionId": "b", "fromStepId": "review", "toStepId": "end", "trigger": "auto"},
                ],
            },
        }  # fmt: skip
        created = await http.post("/api/workflows/definitions", json=definition, headers=headers)
        if created.status_code != 201:
            raise RuntimeError(created.text)
        bench = Bench(http, headers, user_id, "bench-task")
        results: dict[str, Any] = {}
        say(f"warm-up: {args.warmup} round trips")
        await bench.round_trips(args.warmup, 1)
        say(f"measuring: {args.round_trips} round trips one at a time")
        results["rt1"] = await bench.round_trips(args.round_trips, 1)
        say(f"measuring: {args.round_trips * 2} round trips at concurrency {args.concurrency}")
        results["rtc"] = await bench.round_trips(args.round_trips * 2, args.concurrency)
        say(f"filling {args.tasks} tasks")
        assert stack.env["DATABASE_URL"]
        await fill_tasks(stack.env["DATABASE_URL"], tenant_id, user_id, roles, args.tasks)
        say(f"measuring: {args.queries} inbox queries")
        await bench.inbox_queries(20)
        results["inbox"] = await bench.inbox_queries(args.queries)
        say(f"measuring: SSE fan-out to {args.clients} clients")
        results["fanout"] = await fan_out(stack, bench, token, args.clients, args.rounds)
        return results


def report(results: dict[str, Any], args: argparse.Namespace, elapsed: float) -> str:
    rt1, rt1_time = results["rt1"]
    rtc, rtc_time = results["rtc"]
    inbox, inbox_total, baseline = results["inbox"]
    fanout = results["fanout"]
    lines = [
        "# Task inbox benchmark",
        "",
        f"`.venv/bin/python bench/bench_tasks.py`, {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}. Embedded stack as `make run` starts it (embedded Postgres, Temporal "
        f"dev server, the production worker, the API under uvicorn with {args.api_workers} process(es)); the "
        f"client runs in the bench process on the same machine. Run took {elapsed:.0f} s; 1-minute load average "
        f"at the end {os.getloadavg()[0]:.1f} (other processes on the machine inflate the figures).",
        "",
        "Round trip = start an instance (first step a USER_TASK assigned to the caller) -> the task is listed "
        "-> claim -> complete -> the instance reads COMPLETED, all over HTTP (the client polls every 2 ms "
        "for the two waits).",
        "",
        "| measurement | concurrency | n | p50 ms | p99 ms | throughput |",
        "|---|---|---|---|---|---|",
        f"| task round trip | 1 | {len(rt1)} | {ms(rt1, 50)} | {ms(rt1, 99)} | {len(rt1) / rt1_time:.1f} /s |",
        f"| task round trip | {args.concurrency} | {len(rtc)} | {ms(rtc, 50)} | {ms(rtc, 99)} | "
        f"{len(rtc) / rtc_time:.1f} /s |",
        f"| inbox query (`myTasks`, open, by due date, 50/page; {args.tasks:,} tasks in the table, "
        f"{inbox_total} of them the user's open ones) | 1 | {len(inbox)} | {ms(inbox, 50)} | {ms(inbox, 99)} | |",
        f"| baseline: an authenticated request doing almost nothing (`unread-count`), interleaved with the inbox queries | 1 | "
        f"{len(baseline)} | {ms(baseline, 50)} | {ms(baseline, 99)} | |",
        f"| SSE fan-out: notification created -> all {args.clients} connected clients have it | - | "
        f"{len(fanout)} | {ms(fanout, 50)} | {ms(fanout, 99)} (max {max(fanout) * 1000:.1f}) | |",
        "",
        f"- [{'x' if pct(rt1, 99) < 0.25 else ' '}] round trip p99 < 250 ms one at a time (measured {ms(rt1, 99)} ms)",
        f"- [{'x' if pct(inbox, 99) < 0.05 else ' '}] inbox query p99 < 50 ms with {args.tasks:,} tasks "
        f"(measured {ms(inbox, 99)} ms)",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--round-trips", type=int, default=100, help="round trips one at a time (twice that at C)")
    parser.add_argument("--concurrency", type=int, default=10, help="round trips in flight at once (default 10)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up round trips (default 10)")
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks in the table for the inbox query")
    parser.add_argument("--queries", type=int, default=300, help="inbox queries measured (default 300)")
    parser.add_argument("--clients", type=int, default=200, help="SSE clients connected (default 200)")
    parser.add_argument("--rounds", type=int, default=10, help="notifications fanned out (default 10)")
    parser.add_argument("--api-workers", type=int, default=2, help="API processes (API_WORKERS)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stack directory (logs)")
    args = parser.parse_args()
    stack = Stack(keep=args.keep, api_workers=args.api_workers)
    return run(
        stack,
        lambda: asyncio.run(measure(stack, args)),
        lambda results, took: report(results, args, took),
        args.output,
    )


if __name__ == "__main__":
    sys.exit(main())
