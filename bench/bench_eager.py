"""Eager workflow start, measured: is it worth hosting a worker in the API process?

Eager start (`request_eager_start=True`) lets the Temporal server hand a new workflow's first task
straight back to a worker that shares the starting client, skipping the task queue (matching) for
that task. An all-automated Covo instance runs in one workflow task (its side effects are local
activities), so eager start would take matching off its path entirely, but only where the API that
starts it also hosts a worker.

This measures the lever on its own, without the rest of Covo: a Temporal dev server on SQLite (as
`make run` starts it) and, in this process, one worker and one client running a workflow shaped
like an automated instance (one workflow task, one local activity), N instances at concurrency C,
rounds alternating eager / normal. Per side: instances/s, start -> result p50 / p99, and CPU per
instance of the Temporal server and of this process (worker + client).

Usage: ``.venv/bin/python bench/bench_eager.py [--instances 300] [--concurrency 20] [--rounds 3]``
(``make bench-eager``); writes bench/results/eager.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop
from stack import _proc_times, say
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from engine.devstack import TemporalDevServer, free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "eager.md"
QUEUE = "bench-eager"
T = TypeVar("T")


@activity.defn(name="bench_eager_write")
async def write(instance: str) -> str:
    return instance  # stands for the projection's write; the lever is about Temporal, not the write


@workflow.defn(name="BenchEager", sandboxed=False)
class EagerWorkflow:
    @workflow.run
    async def run(self, instance: str) -> str:
        return await workflow.execute_local_activity(write, instance, start_to_close_timeout=timedelta(seconds=30))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(p / 100 * len(ordered)) - 1)]


async def load(client: Client, n: int, concurrency: int, eager: bool) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one() -> None:
        async with gate:
            started = time.perf_counter()
            handle = await client.start_workflow(
                EagerWorkflow.run, "x", id=f"eager-{uuid.uuid4()}", task_queue=QUEUE, request_eager_start=eager
            )
            await handle.result()
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - began), latencies


async def measure(address: str, server_pid: int, args: argparse.Namespace) -> dict[bool, list[dict[str, float]]]:
    client = await Client.connect(address)
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    async with Worker(client, task_queue=QUEUE, workflows=[EagerWorkflow], activities=[write]):
        await load(client, 50, args.concurrency, True)
        await load(client, 50, args.concurrency, False)
        for round_ in range(args.rounds):
            for eager in (True, False) if round_ % 2 == 0 else (False, True):
                server_before, own_before = sum(_proc_times(server_pid)), time.process_time()
                rate, latencies = await load(client, args.instances, args.concurrency, eager)
                server_cpu = (sum(_proc_times(server_pid)) - server_before) * 1000 / args.instances
                own_cpu = (time.process_time() - own_before) * 1000 / args.instances
                results[eager].append(
                    {
                        "rate": rate,
                        "p50": pct(latencies, 50) * 1000,
                        "p99": pct(latencies, 99) * 1000,
                        "server": server_cpu,
                        "own": own_cpu,
                    }
                )
                say(f"round {round_ + 1}, eager={eager}: {rate:.1f}/s")
    return results


def report(results: dict[bool, list[dict[str, float]]], args: argparse.Namespace) -> str:
    def med(eager: bool, key: str) -> float:
        return statistics.median(r[key] for r in results[eager])

    rows = [
        ("instances/s", "rate", "{:.1f}"),
        ("start -> result p50 ms", "p50", "{:.1f}"),
        ("start -> result p99 ms", "p99", "{:.1f}"),
        ("Temporal server CPU per instance, ms", "server", "{:.2f}"),
        ("worker + client CPU per instance, ms", "own", "{:.2f}"),
    ]
    lines = [
        "# Eager workflow start",
        "",
        f"`.venv/bin/python bench/bench_eager.py` (`make bench-eager`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{args.instances} instances at concurrency {args.concurrency}, {args.rounds} rounds alternating which side "
        "goes first, medians of the rounds. A workflow of one workflow task and one local activity (the shape of an "
        "all-automated Covo instance), worker and client in one process, Temporal dev server on SQLite.",
        "",
        "| figure | eager start | normal start | eager / normal |",
        "|---|---|---|---|",
    ]
    for label, key, fmt in rows:
        eager, normal = med(True, key), med(False, key)
        lines.append(f"| {label} | {fmt.format(eager)} | {fmt.format(normal)} | {eager / normal:.2f} |")
    return "\n".join(lines) + "\n"


def arguments(doc: str | None, rounds: int, output: Path) -> argparse.Namespace:
    """The options this bench and bench_pollers.py share."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--output", type=Path, default=output)
    return parser.parse_args()


def on_dev_server(prefix: str, measure: Callable[[str, int], Awaitable[T]]) -> T:
    """Runs `measure(address, server pid)` against a fresh dev server on SQLite (as `make run`)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        server = TemporalDevServer(port=free_port(), db_file=Path(directory) / "temporal.sqlite")
        address = server.start()
        try:
            return uvloop.run(measure(address, server.process.pid))
        finally:
            server.stop()


def publish(text: str, output: Path) -> int:
    print(text)
    output.write_text(text)
    print(f"written to {output}")
    return 0


def main() -> int:
    args = arguments(__doc__, 3, RESULTS)
    results = on_dev_server("covo-eager-", lambda address, pid: measure(address, pid, args))
    return publish(report(results, args), args.output)


if __name__ == "__main__":
    sys.exit(main())
