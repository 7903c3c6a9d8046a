"""`POST /api/business_rules/execute` with 50 matching rules, on the embedded stack.

Starts its own stack in a temporary directory the way `make run` does (embedded Postgres, Temporal
dev server, migrations, admin, the production worker `python -m workers` and the API under
uvicorn, each in its own process), creates 50 rules for one entity type through the API (a mix of
JsonLogic and reference condition trees; GUARD, VALIDATION, CALCULATION and ASSIGNMENT rules with
SET_FIELD / SHOW_* actions), then measures over HTTP:

  a) live runs (50 execution-log rows written per request), one request at a time;
  b) live runs at concurrency C;
  c) dry runs (no logs), one at a time and at concurrency C, to show the cost of logging;

and, as the baseline, the same request for an entity type no rule matches (authentication, the
session, discovery and the HTTP round trip without any rule work).

Each figure: p50 / p99 request latency (client side, full HTTP round trip) and requests/s.
Prints a table and writes it to bench/results/rules.md.

Usage: ``.venv/bin/python bench/bench_rules.py [--requests 300] [--concurrency 10] [--warmup 30]
[--rules 50]``. Every process it starts is stopped on exit or Ctrl-C.
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from leanhttp import LeanClient
from stack import ADMIN_EMAIL, Stack, say
from stack import run as run_bench

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "rules.md"
ENTITY = "orders.order"
EVENT = "beforeSave"
# The reference's own measurement (shared/reference/peer-measurements.md): 10 GUARD rules, 500 calls.
REFERENCE_ENTITY = "orders.guarded"
REFERENCE_RULES = 10
REFERENCE_CALLS = 500
# Quoted, not measured here (shared/reference/peer-measurements.md): the side-by-side run of
# 2026-12-05 (2-core machine, load < 0.4) for the live and one-at-a-time lines; the dry run only
# appears in the 2026-11-23 measurement.
REFERENCE = {  # label -> (p50 ms, p99 ms, requests/s) of Open Mercato on the same kind of machine
    "live": (178.0, 203.0, 56.0),
    "dry": (178.0, 308.0, 53.6),
    "one": (24.1, 37.5, None),
}
REFERENCE_SOURCE = {
    "live": "quoted: peer-measurements.md, 2026-12-05, 2-core machine, load < 0.4",
    "dry": "quoted: peer-measurements.md, 2026-11-23, 2-core machine",
    "one": "quoted: peer-measurements.md, 2026-12-05, 2-core machine, load < 0.4",
}
GOAL_FACTOR = 10


# ---------------------------------------------------------------------------------------------
# The rules


def rule(i: int) -> dict[str, Any]:
    """Rule i of the set: all match the bench's entity/event; conditions vary in shape and cost."""
    kind = ("GUARD", "VALIDATION", "CALCULATION", "ASSIGNMENT")[i % 4]
    if i % 2 == 0:
        condition: Any = {
            "and": [
                {">=": [{"var": "order.total"}, 10]},
                {"in": [{"var": "order.currency"}, ["EUR", "USD", "GBP"]]},
                {"some": [{"var": "order.lines"}, {">": [{"var": "qty"}, 0]}]},
            ]
        }
    else:
        condition = {
            "operator": "AND",
            "rules": [
                {"field": "order.status", "operator": "IN", "value": ["NEW", "PAID"]},
                # One rule in four uses MATCHES (a regex, the costliest leaf); the others STARTS_WITH.
                {"field": "customer.email", "operator": "MATCHES", "value": "^[^@]+@[^@]+$"}
                if i % 4 == 1
                else {"field": "customer.id", "operator": "STARTS_WITH", "value": "c-"},
                {"field": "order.total", "operator": "<=", "valueField": "customer.creditLimit"},
            ],
        }
    actions: list[dict[str, Any]] = []
    if kind == "CALCULATION":
        actions = [
            {
                "type": "SET_FIELD",
                "config": {"field": f"calc.r{i}", "valueExpression": {"*": [{"var": "order.total"}, 1.2]}},
            }
        ]
    elif kind == "ASSIGNMENT":
        actions = [{"type": "SET_FIELD", "config": {"field": f"assign.r{i}", "value": "{{data.customer.id}}"}}]
    elif kind == "VALIDATION":
        actions = [{"type": "SHOW_INFO", "config": {"message": "Order {{data.order.id}} passed check " + str(i)}}]
    return {
        "ruleId": f"bench-{i:03d}",
        "ruleName": f"Bench rule {i}",
        "ruleType": kind,
        "entityType": ENTITY,
        "eventType": EVENT,
        "priority": 100 + i,
        "conditionExpression": condition,
        "successActions": actions,
        "failureActions": [{"type": "SHOW_ERROR", "config": {"message": "Order {{data.order.id}} failed " + str(i)}}],
    }


def guard_rule(i: int) -> dict[str, Any]:
    """The reference scenario's rules: GUARDs on the order that all pass."""
    return {
        "ruleId": f"guard-{i:03d}",
        "ruleName": f"Guard {i}",
        "ruleType": "GUARD",
        "entityType": REFERENCE_ENTITY,
        "eventType": EVENT,
        "priority": 100 + i,
        "conditionExpression": {
            "and": [{">=": [{"var": "order.total"}, i]}, {"in": [{"var": "order.currency"}, ["EUR", "USD"]]}]
        },
        "failureActions": [{"type": "BLOCK_TRANSITION", "config": {"message": f"Guard {i} refused"}}],
    }


def payload(n: int, dry_run: bool, entity: str = ENTITY) -> dict[str, Any]:
    return {
        "entityType": entity,
        "eventType": EVENT,
        "entityId": f"order-{n}",
        "dryRun": dry_run,
        "data": {
            "order": {
                "id": n,
                "status": "PAID",
                "total": 120.5,
                "currency": "EUR",
                "lines": [{"sku": f"SKU-{k}", "qty": k + 1, "price": 10.0} for k in range(5)],
            },
            "customer": {"id": f"c-{n % 97}", "email": "ann@example.com", "creditLimit": 1000, "password": "x"},
        },
    }


# ---------------------------------------------------------------------------------------------
# Measurement


def pct(values: Iterable[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Run:
    label: str
    concurrency: int
    latencies: list[float]  # seconds
    elapsed: float  # seconds, whole run
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per request by part of the stack
    client_cpu_ms: float = math.nan  # the load generator's own CPU per request (same machine)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def row(self) -> str:
        p50, p99 = pct(self.latencies, 50) * 1000, pct(self.latencies, 99) * 1000
        return (
            f"| {self.label} | {self.concurrency} | {len(self.latencies)} | {p50:.1f} | {p99:.1f} | {self.rate:.1f} |"
        )


async def load(
    http: LeanClient,
    headers: dict[str, str],
    n: int,
    concurrency: int,
    dry_run: bool,
    label: str,
    rules: int,
    entity: str = ENTITY,
) -> Run:
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            response = await http.post("/api/business_rules/execute", json=payload(i, dry_run, entity), headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"execute answered {response.status_code}: {response.text[:300]}")
            body = response.json()
            if len(body["executedRules"]) != rules or not body["allowed"]:
                raise RuntimeError(f"unexpected result: {str(body)[:300]}")
            if rules and not dry_run and len(body.get("logIds", [])) != rules:
                raise RuntimeError("live run without a log per rule")

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(label, concurrency, latencies, time.perf_counter() - began)


async def measure(stack: Stack, args: argparse.Namespace) -> tuple[list[Run], dict[str, Run]]:
    limits = httpx.Limits(max_connections=args.concurrency + 2)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60, limits=limits) as http:
        login = await http.post("/api/auth/login", data={"email": ADMIN_EMAIL, "password": stack.password})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        say(f"creating {args.rules} rules")
        for body in [rule(i) for i in range(args.rules)] + [guard_rule(i) for i in range(REFERENCE_RULES)]:
            response = await http.post("/api/business_rules/rules", json=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"create rule answered {response.status_code}: {response.text}")
    # The measured calls go through the lean client: httpx would take as much CPU as the API.
    async with LeanClient(stack.api_url, args.concurrency) as http:
        say(f"warm-up: {args.warmup} requests")
        await load(http, headers, args.warmup, 1, False, "warm-up", args.rules)
        say("measuring: baseline (no matching rule)")
        runs = [await load(http, headers, args.requests, 1, False, "baseline: no matching rule, sequential", 0, "none")]
        for label, concurrency, dry in (
            ("live (logs written), sequential", 1, False),
            (f"live (logs written), concurrency {args.concurrency}", args.concurrency, False),
            ("dry run (no logs), sequential", 1, True),
            (f"dry run (no logs), concurrency {args.concurrency}", args.concurrency, True),
        ):
            say(f"measuring: {label}")
            runs.append(await load(http, headers, args.requests, concurrency, dry, label, args.rules))
        reference: dict[str, Run] = {}
        for key, concurrency, dry in (("live", 10, False), ("dry", 10, True), ("one", 1, False)):
            say(f"measuring: reference scenario, {key}")
            before, client_before = stack.cpu(), time.process_time()
            reference[key] = await load(
                http, headers, REFERENCE_CALLS, concurrency, dry, key, REFERENCE_RULES, REFERENCE_ENTITY
            )
            after, client_after = stack.cpu(), time.process_time()
            reference[key].cpu_ms = {
                part: (after[part] - before.get(part, 0.0)) * 1000 / REFERENCE_CALLS for part in ("api", "postgres")
            }
            reference[key].client_cpu_ms = (client_after - client_before) * 1000 / REFERENCE_CALLS
    return runs, reference


def reference_rows(reference: dict[str, Run]) -> list[str]:
    labels = {
        "live": "10 GUARD rules, logs written, concurrency 10",
        "dry": "10 GUARD rules, dry run, concurrency 10",
        "one": "10 GUARD rules, logs written, one at a time",
    }
    rows = []
    for key, run in reference.items():
        p50, p99, rate = REFERENCE[key]
        ours = f"{pct(run.latencies, 50) * 1000:.1f} / {pct(run.latencies, 99) * 1000:.1f} ms, {run.rate:.1f}/s"
        theirs = f"{p50:.0f} / {p99:.0f} ms" + (f", {rate:.1f}/s" if rate else "")
        ratio = f"**{run.rate / rate:.1f}x**" if rate else f"p50 {p50 / (pct(run.latencies, 50) * 1000):.1f}x lower"
        cpu = sum(run.cpu_ms.values())
        ceiling = (os.cpu_count() or 1) * 1000 / cpu if cpu else math.nan
        cpu_cell = (
            f"{cpu:.1f} ms (API {run.cpu_ms.get('api', 0):.1f}, Postgres {run.cpu_ms.get('postgres', 0):.1f}); "
            f"ceiling {ceiling:.0f}/s; client {run.client_cpu_ms:.1f} ms"
        )
        rows.append(f"| {labels[key]} | {ours} | {cpu_cell} | {theirs} | {ratio} |")
    return rows


def report(runs: list[Run], reference: dict[str, Run], args: argparse.Namespace, elapsed: float) -> str:
    live_ratio = reference["live"].rate / (REFERENCE["live"][2] or 1)
    lines = [
        "# Business rules: `POST /api/business_rules/execute` benchmark",
        "",
        f"`.venv/bin/python bench/bench_rules.py`, {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}. Embedded stack as `make run` starts it (embedded Postgres, Temporal "
        f"dev server, the production worker and the API under uvicorn with {args.api_workers} worker process(es), "
        "`API_WORKERS`); the client runs in the bench process on the same machine.",
        f"Each request matches **{args.rules} rules** (half JsonLogic, half reference condition trees translated "
        "on save, a quarter of those with a MATCHES regex; GUARD / VALIDATION / CALCULATION / ASSIGNMENT with "
        "SET_FIELD and SHOW_* actions) and carries a "
        "~0.5 KB order. A live run writes one execution-log row per rule (one bulk INSERT) with the sanitised "
        f"input. {args.requests} requests per line after {args.warmup} warm-up requests; latency is the client's "
        f"full HTTP round trip. Run took {elapsed:.0f} s; 1-minute load average at the end "
        f"{os.getloadavg()[0]:.1f} (other processes on the machine inflate the figures).",
        "",
        "| load | concurrency | requests | p50 ms | p99 ms | requests/s |",
        "|---|---|---|---|---|---|",
        *(run.row() for run in runs),
        "",
        f"## The reference's scenario ({REFERENCE_CALLS} calls, side by side with its published figures)",
        "",
        "| load | Covo p50 / p99, throughput | CPU per request (API + Postgres) | Open Mercato p50 / p99, "
        "throughput (quoted) | Covo / Open Mercato |",
        "|---|---|---|---|---|",
        *reference_rows(reference),
        "",
        "Open Mercato's figures are quoted from `peer-measurements.md`: "
        + "; ".join(f"{key}: {source}" for key, source in REFERENCE_SOURCE.items())
        + ". Ours are measured now, on a machine shared with other work (see the load average above): the CPU "
        "per request is the figure that depends least on that, and cores / CPU per request is the ceiling a quiet "
        f"{os.cpu_count()}-core machine would reach.",
        "",
        f"- [{'x' if live_ratio >= GOAL_FACTOR else ' '}] throughput >= {GOAL_FACTOR}x the reference's at the same "
        f"concurrency (measured {live_ratio:.1f}x)",
        "",
    ]
    return "\n".join(lines)


def write_summary(reference: dict[str, Run], path: Path) -> None:
    """The rows `bench/summary.py` puts in the one table of `make bench`."""
    live, one = reference["live"], reference["one"]
    cpu = sum(live.cpu_ms.values())
    rows = [
        ["rules, 10 GUARD @ c10, logs written, req/s", f"{live.rate:.1f}", "", "", f"{REFERENCE['live'][2]}"],
        ["rules @ c10 p50 / p99", f"{pct(live.latencies, 50) * 1000:.1f} / {pct(live.latencies, 99) * 1000:.1f} ms",
         "", "", f"{REFERENCE['live'][0]:.0f} / {REFERENCE['live'][1]:.0f} ms"],
        ["rules one at a time p50 / p99", f"{pct(one.latencies, 50) * 1000:.1f} / {pct(one.latencies, 99) * 1000:.1f} ms",
         "", "", f"{REFERENCE['one'][0]} / {REFERENCE['one'][1]} ms"],
        ["rules CPU per request (API + Postgres); ceiling", f"{cpu:.1f} ms; {(os.cpu_count() or 1) * 1000 / cpu:.0f}/s",
         "", "", ""],
    ]  # fmt: skip
    path.write_text(json.dumps({"load_average": os.getloadavg()[0], "rows": rows}, indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300, help="requests per measured line (default 300)")
    parser.add_argument("--concurrency", type=int, default=10, help="requests in flight at once (default 10)")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up requests (default 30)")
    parser.add_argument("--rules", type=int, default=50, help="matching rules (default 50, at most 100)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stack directory (logs)")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="API processes (default: API_WORKERS's, one per core)",
    )
    args = parser.parse_args()

    stack = Stack(keep=args.keep, api_workers=args.api_workers)

    def render(measured: tuple[list[Run], dict[str, Run]], elapsed: float) -> str:
        write_summary(measured[1], args.output.with_suffix(".json"))
        return report(*measured, args, elapsed)

    return run_bench(stack, lambda: asyncio.run(measure(stack, args)), render, args.output)


if __name__ == "__main__":
    sys.exit(main())
