"""Scale-out on one machine: the checkout benchmark (bench_workflows.py's load: the contract's
checkout flow started through POST /api/workflows/instances, N at concurrency C) with 1 and 2
worker processes and 1 and 2 API processes against one Temporal dev server and one Postgres, then a
drill: two workers, one SIGKILLed mid-run, and every instance must complete exactly once (one
COMPLETED status, one WORKFLOW_COMPLETED event, one confirmation mail each).

Prints a table (instances/s, start -> COMPLETED p50/p99, CPU ms per instance per process kind) and
writes it to bench/results/scale.md; docs/operations.md builds its capacity model on these figures.

Usage: ``.venv/bin/python bench/bench_scale.py [--instances 200] [--concurrency 20] [--warmup 20]``.
Every process it starts is stopped on exit or Ctrl-C. The machine is shared: the load average at
start and end is printed with the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_workflows import CHECKOUT, Bench, Load, p50_p99
from sqlalchemy import text
from stack import Stack, _children, _proc_times, run, say

from engine.devstack import wait_for_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "scale.md"
CONFIGS = ((1, 1), (2, 1), (1, 2), (2, 2))  # (worker processes, API processes)


@dataclass
class Row:
    label: str
    workers: int
    apis: int
    load: Load
    cpu: dict[str, float]  # CPU ms per instance by process kind
    note: str = ""


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live children (uvicorn's worker processes) and reaped ones."""
    own, reaped = _proc_times(pid)
    return own + reaped + sum(sum(_proc_times(child)) for child in _children(pid))


def cpu_by_kind(stack: Stack) -> dict[str, float]:
    used: dict[str, float] = {}
    for name, process in stack.children:
        kind = name.split("-")[0]
        used[kind] = used.get(kind, 0.0) + tree_cpu(process.pid)
    for kind, value in stack.cpu().items():
        if kind in ("temporal", "postgres"):
            used[kind] = value
    return used


def reshape(stack: Stack, workers: int, apis: int) -> None:
    """Stop the workers and the API, start `workers` worker processes and an API of `apis`
    processes (uvicorn workers) on the same port, against the same dev server and Postgres."""
    stack.stop_children(patience=40)
    for i in range(workers):
        stack.spawn(f"worker-{i + 1}", [sys.executable, "-m", "workers"])
    port = stack.api_url.rsplit(":", 1)[1]
    api = stack.spawn(
        "api",
        [sys.executable, "-m", "uvicorn", "--factory", "server.app:create_app", "--host", "127.0.0.1", "--port", port,
         "--workers", str(apis), "--log-level", "warning"],
    )  # fmt: skip
    wait_for_port(int(port), 60, api)
    time.sleep(1.0 + apis)  # every uvicorn process up and every worker polling


async def run_config(stack: Stack, args: argparse.Namespace, workers: int, apis: int) -> Row:
    reshape(stack, workers, apis)
    async with Bench(stack, args) as bench:
        checkout = await bench.create({**json.loads(CHECKOUT.read_text()), "workflowId": f"checkout-{workers}w{apis}a"})
        if args.warmup:
            await bench.ours_load(checkout, args.warmup, args.concurrency)
        before = cpu_by_kind(stack)
        load = await bench.ours_load(checkout, args.instances, args.concurrency)
        after = cpu_by_kind(stack)
    stack.check_children()
    cpu = {kind: (after[kind] - before.get(kind, 0.0)) * 1000 / args.instances for kind in after}
    label = f"{workers} worker{'s' if workers > 1 else ''}, {apis} API process{'es' if apis > 1 else ''}"
    return Row(label, workers, apis, load, cpu)


async def kill_drill(stack: Stack, args: argparse.Namespace) -> Row:
    """Two workers; once a third of the instances completed, SIGKILL one. Temporal hands its
    workflow tasks to the other at once and its activities after their timeouts."""
    reshape(stack, 2, 1)
    async with Bench(stack, args) as bench:
        checkout = await bench.create({**json.loads(CHECKOUT.read_text()), "workflowId": "checkout-kill"})
        victim = next(process for name, process in stack.children if name == "worker-1")
        killed_at: list[float] = []

        async def killer() -> None:
            while True:
                async with bench.engine.connect() as conn:
                    done = await conn.scalar(
                        text(
                            "SELECT count(*) FROM workflow_instances WHERE workflow_id = 'checkout-kill' AND status = 'COMPLETED'"
                        )
                    )
                if (done or 0) >= args.instances // 3:
                    victim.send_signal(signal.SIGKILL)
                    killed_at.append(time.time())
                    say(f"  SIGKILLed worker-1 (pid {victim.pid}) after {done} completed")
                    return
                await asyncio.sleep(0.05)

        before = cpu_by_kind(stack)
        kill = asyncio.ensure_future(killer())
        load = await bench.ours_load(checkout, args.instances, args.concurrency)
        await kill
        after = cpu_by_kind(stack)
        async with bench.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT i.status, "
                        "(SELECT count(*) FROM workflow_events e WHERE e.workflow_instance_id = i.id "
                        " AND e.event_type = 'WORKFLOW_COMPLETED'), "
                        "(SELECT count(*) FROM mail_outbox m WHERE m.idempotency_key LIKE '%' || i.id::text || '%') "
                        "FROM workflow_instances i WHERE i.workflow_id = 'checkout-kill'"
                    )
                )
            ).all()
            last = await conn.scalar(
                text("SELECT max(completed_at) FROM workflow_instances WHERE workflow_id = 'checkout-kill'")
            )
    exact = sum(1 for status, completed, mails in rows if status == "COMPLETED" and completed == 1 and mails == 1)
    if len(rows) != args.instances or exact != args.instances:
        raise RuntimeError(f"kill drill: {exact}/{args.instances} instances completed exactly once ({len(rows)} rows)")
    cpu = {kind: (after[kind] - before.get(kind, 0.0)) * 1000 / args.instances for kind in after}
    recovered = max(load.latencies)
    note = (
        f"{exact}/{args.instances} completed exactly once (one COMPLETED event, one mail each); the last one "
        f"{last.timestamp() - killed_at[0]:.0f} s after the kill (in-flight activities of the killed worker wait out their "
        f"start-to-close timeout, 60 s); slowest start -> COMPLETED {recovered:.0f} s"
    )
    return Row("2 workers, 1 killed mid-run", 2, 1, load, cpu, note)


def report(rows: list[Row], args: argparse.Namespace, loads: tuple[float, float], elapsed: float) -> str:
    base = rows[0].load.throughput

    def cpu_cell(row: Row) -> str:
        total = sum(row.cpu.values())
        parts = ", ".join(f"{k} {row.cpu.get(k, 0):.0f}" for k in ("worker", "api", "temporal", "postgres"))
        return f"{total:.0f} ({parts})"

    lines = [
        "# Scale-out on one machine",
        "",
        f"`make scale` (`.venv/bin/python bench/bench_scale.py`), {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"{os.cpu_count()} CPUs shared with other work: load average {loads[0]:.1f} at the start, {loads[1]:.1f} "
        f"at the end; run took {elapsed:.0f} s. One Temporal dev server (SQLite, WAL) and one embedded Postgres "
        f"for every row; per row {args.instances} checkout instances through the HTTP API at concurrency "
        f"{args.concurrency} after {args.warmup} warm-up. CPU is per instance, in ms, from /proc (the load "
        "generator not counted).",
        "",
        "| processes | instances/s | vs 1 worker + 1 API | start -> COMPLETED p50 / p99 | start request p50 / p99 "
        "| CPU per instance, ms (worker, API, Temporal, Postgres) | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lat, req = p50_p99(row.load.latencies), p50_p99(row.load.requests)
        lines.append(
            f"| {row.label} | {row.load.throughput:.1f} | {row.load.throughput / base:.2f}x "
            f"| {lat[0]:.0f} / {lat[1]:.0f} ms | {req[0]:.0f} / {req[1]:.0f} ms | {cpu_cell(row)} | {row.note} |"
        )
    lines += [
        "",
        "On 2 cores the processes compete for the same CPUs as the dev server and Postgres: more processes "
        "cannot add cores, so the rows show what one more process costs and gains, not a cluster's scaling; "
        "docs/operations.md turns the CPU per instance into a capacity model.",
        "",
    ]
    return "\n".join(lines)


async def measure(stack: Stack, args: argparse.Namespace) -> list[Row]:
    rows = []
    for workers, apis in CONFIGS:
        say(f"{workers} worker(s), {apis} API process(es): {args.instances} instances")
        rows.append(await run_config(stack, args, workers, apis))
        say(f"  {rows[-1].load.throughput:.1f}/s")
    say(f"kill drill: 2 workers, one SIGKILLed mid-run, {args.instances} instances")
    rows.append(await kill_drill(stack, args))
    say(f"  {rows[-1].load.throughput:.1f}/s; {rows[-1].note}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=200, help="checkout instances per row (default 200)")
    parser.add_argument("--concurrency", type=int, default=20, help="starts in flight at once (default 20)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up instances per row (default 20)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stack directory (logs)")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    stack = Stack(keep=args.keep)
    return run(
        stack,
        lambda: asyncio.run(measure(stack, args)),
        lambda rows, elapsed: report(rows, args, (load_before, os.getloadavg()[0]), elapsed),
        args.output,
    )


if __name__ == "__main__":
    sys.exit(main())
