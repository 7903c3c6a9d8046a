"""Workflow-task pollers, measured: the SDK's fixed five vs autoscaling (`workers.registry.POLLING`).

With the fixed five and the non-sticky/sticky ratio of 0.2, about one poller watches the normal
task queue, where every new instance's first workflow task arrives; under concurrent starts those
tasks wait in matching's backlog. This runs the shape of an automated instance (one workflow task,
one local activity; `bench_eager.py`'s workflow, started normally) on a Temporal dev server on
SQLite, N instances at concurrency C, each configuration in turn for R rounds, and prints
instances/s and start -> result p50 / p99 per configuration.

Usage: ``.venv/bin/python bench/bench_pollers.py [--instances 300] [--concurrency 20] [--rounds 2]``
(``make bench-pollers``); writes bench/results/pollers.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_eager import QUEUE, EagerWorkflow, arguments, load, on_dev_server, pct, publish, write
from stack import say
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from workers.registry import POLLING

RESULTS = Path(__file__).resolve().parent / "results" / "pollers.md"
CONFIGS: dict[str, dict[str, Any]] = {
    "fixed 5 (the SDK's default)": {},
    "fixed 10, non-sticky ratio 1.0": {
        "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(10),
        "nonsticky_to_sticky_poll_ratio": 1.0,
    },
    "autoscaling (workers.registry.POLLING)": POLLING,
}


async def measure(address: str, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    client = await Client.connect(address)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGS}
    for round_ in range(args.rounds):
        names = list(CONFIGS) if round_ % 2 == 0 else list(reversed(CONFIGS))
        for name in names:
            async with Worker(client, task_queue=QUEUE, workflows=[EagerWorkflow], activities=[write], **CONFIGS[name]):
                await load(client, 40, args.concurrency, False)  # warm-up
                rate, latencies = await load(client, args.instances, args.concurrency, False)
            results[name].append({"rate": rate, "p50": pct(latencies, 50) * 1000, "p99": pct(latencies, 99) * 1000})
            say(f"round {round_ + 1}, {name}: {rate:.1f}/s, p99 {results[name][-1]['p99']:.0f} ms")
    return results


def report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> str:
    lines = [
        "# Workflow-task pollers",
        "",
        f"`.venv/bin/python bench/bench_pollers.py` (`make bench-pollers`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{args.instances} instances at concurrency {args.concurrency} per configuration and round, {args.rounds} rounds "
        "(order reversed every other round), medians of the rounds. One workflow task and one local activity per "
        "instance, started normally (not eager), worker and client in one process, Temporal dev server on SQLite.",
        "",
        "| pollers | instances/s | start -> result p50 | p99 |",
        "|---|---|---|---|",
    ]
    for name, runs in results.items():
        med = {key: statistics.median(r[key] for r in runs) for key in ("rate", "p50", "p99")}
        lines.append(f"| {name} | {med['rate']:.1f} | {med['p50']:.0f} ms | {med['p99']:.0f} ms |")
    return "\n".join(lines) + "\n"


def main() -> int:
    args = arguments(__doc__, 2, RESULTS)
    results = on_dev_server("covo-pollers-", lambda address, _pid: measure(address, args))
    return publish(report(results, args), args.output)


if __name__ == "__main__":
    sys.exit(main())
