"""`make soak`: ten minutes of steady load on the embedded stack (as `make run` starts it), showing
whether memory stays flat.

Load: closed loops of clients, some starting the checkout flow (without e-mail) and waiting for
COMPLETED before the next, others executing the reference's 10 GUARD rules with logs written.
Every 30 s it samples the private resident memory (RssAnon, MiB) of each part of the stack (the
largest process of each: an API with several uvicorn workers, Postgres with its backends) and
prints one line; at the end a table of the samples and each part's growth from the first full
minute to the end. Our processes (API, worker) must stay flat; Temporal's dev server and Postgres
are shown too, but they keep the data the load creates (histories, rows), so they may grow. Not
part of `make test`.

Usage: ``.venv/bin/python bench/soak.py [--minutes 10] [--workflow-clients 10] [--rules-clients 5]
[--max-growth 0.15]``; exits 1 when the API or the worker grew more than --max-growth (a fraction).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_rules as rules_bench
import bench_workflows as wf_bench
import httpx
from stack import Stack, run, say

RESULTS = Path(__file__).resolve().parent / "results" / "soak.md"
OURS = ("api", "worker")  # the processes whose memory must stay flat


def sample(stack: Stack) -> dict[str, float]:
    """Private resident memory (RssAnon, MiB): what a leak grows. VmRSS would also count the shared
    buffers a Postgres backend touches, which grow with the tables, not with a leak."""
    return stack.memory("RssAnon")


async def soak(stack: Stack, args: argparse.Namespace) -> list[tuple[float, dict[str, float], int, int]]:
    bench_args = argparse.Namespace(concurrency=args.workflow_clients, email=False)
    async with wf_bench.Bench(stack, bench_args) as bench:
        checkout = await bench.create(wf_bench.checkout_document(email=False))
        for i in range(rules_bench.REFERENCE_RULES):
            response = await bench.http.post(
                "/api/business_rules/rules", json=rules_bench.guard_rule(i), headers=bench.headers
            )
            response.raise_for_status()
        deadline = time.monotonic() + args.minutes * 60
        counts = {"instances": 0, "rules": 0}
        samples: list[tuple[float, dict[str, float], int, int]] = []
        began = time.monotonic()

        async def instances() -> None:
            while time.monotonic() < deadline:
                load = await bench.closed_loop(
                    lambda i: bench.ours_one(checkout, i), "workflow_instances", args.workflow_clients, 5
                )
                counts["instances"] += len(load.latencies)

        async def rule_calls(http: httpx.AsyncClient) -> None:
            n = 0
            while time.monotonic() < deadline:
                body = rules_bench.payload(n, False, rules_bench.REFERENCE_ENTITY)
                response = await http.post("/api/business_rules/execute", json=body, headers=bench.headers)
                response.raise_for_status()
                counts["rules"] += 1
                n += 1

        async def sampler() -> None:
            while True:
                stack.check_children()
                now = time.monotonic() - began
                samples.append((now, sample(stack), counts["instances"], counts["rules"]))
                parts = ", ".join(f"{k} {v:.0f}" for k, v in samples[-1][1].items())
                say(
                    f"{now / 60:4.1f} min: {counts['instances']} instances, {counts['rules']} rule calls; RSS MiB {parts}"
                )
                if time.monotonic() >= deadline:
                    return
                await asyncio.sleep(min(args.interval, max(0.0, deadline - time.monotonic())))

        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
            await asyncio.gather(instances(), *(rule_calls(http) for _ in range(args.rules_clients)), sampler())
        return samples


def report(samples: list[tuple[float, dict[str, float], int, int]], args: argparse.Namespace) -> tuple[str, bool]:
    names = list(samples[-1][1])
    lines = [
        "# Soak: memory under steady load",
        "",
        f"`make soak` (`.venv/bin/python bench/soak.py`), {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} CPUs, "
        f"{args.minutes} min; {args.workflow_clients} workflow clients (checkout flow, closed loop) and "
        f"{args.rules_clients} rules clients (10 GUARD rules, logs written); 1-minute load average at the end "
        f"{os.getloadavg()[0]:.1f}. Private resident memory (RssAnon, MiB) of the largest process of each part.",
        "",
        "| minute | instances | rule calls | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for at, memory, done, calls in samples:
        lines.append(
            f"| {at / 60:.1f} | {done} | {calls} | " + " | ".join(f"{memory.get(n, 0):.0f}" for n in names) + " |"
        )
    # Growth from the first sample after a minute (warm caches, pools full) to the end.
    base = next((m for at, m, _, _ in samples if at >= 60), samples[0][1])
    end = samples[-1][1]
    growth = {n: (end[n] - base[n]) / base[n] if base.get(n) else 0.0 for n in names}
    ours = [n for n in names if n in OURS]
    flat = all(growth[n] <= args.max_growth for n in ours)
    lines += [
        "",
        "Growth from minute 1 to the end: " + ", ".join(f"{n} {g * 100:+.1f}%" for n, g in growth.items()),
        f"- [{'x' if flat else ' '}] our processes ({', '.join(ours)}) within +{args.max_growth * 100:.0f}% "
        "(Temporal and Postgres hold the data the load creates)",
        "",
    ]
    return "\n".join(lines), flat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--workflow-clients", type=int, default=10)
    parser.add_argument("--rules-clients", type=int, default=5)
    parser.add_argument("--interval", type=float, default=30, help="seconds between memory samples")
    parser.add_argument("--max-growth", type=float, default=0.15, help="allowed growth after minute 1 (fraction)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary stack directory (logs)")
    args = parser.parse_args()

    stack = Stack(keep=args.keep)
    flat: list[bool] = []

    def render(samples: list[tuple[float, dict[str, float], int, int]], _elapsed: float) -> str:
        table, ok = report(samples, args)
        flat.append(ok)
        return table

    code = run(stack, lambda: asyncio.run(soak(stack, args)), render, args.output)
    return code if code or all(flat) else 1


if __name__ == "__main__":
    sys.exit(main())
