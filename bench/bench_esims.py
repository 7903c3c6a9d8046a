"""eSIM benchmark on the embedded stack (as `make run` starts it) with the 1Global simulator:

1. provisioning: N consumers order an eSIM at once (`POST /api/esims`); time until every order is
   placed (201) and until every eSIM is `ready`, and the simulator's order count (exactly one each);
2. webhook intake: `POST /api/esims/webhooks/1global` at concurrency C (usage events spread over
   those eSIMs, plus replays of some of them): p50/p99 and requests/s, then every event is counted
   in the eSIM event log (none lost, none applied twice).

Prints a table and writes it to bench/results/esims.md."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stack import ADMIN_EMAIL, ROOT, Stack, run, say

from engine.db.session import create_engine
from engine.devstack import free_port

RESULTS = ROOT / "bench" / "results" / "esims.md"
WEBHOOK_USER = "oneglobal-bench"
READY = ("ready", "downloaded", "installed", "active")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Provisioning:
    esims: int
    placed_s: float
    ready_s: float
    order_p50: float
    order_p99: float
    orders_at_1global: int
    ready: int


@dataclass
class Intake:
    sent: int
    unique: int
    concurrency: int
    latencies: list[float]
    elapsed: float
    statuses: dict[int, int]
    drained_s: float
    recorded: int
    stored: int


async def sign_up(http: httpx.AsyncClient, gate: asyncio.Semaphore) -> str:
    async with gate:
        body = {"email": f"bench-{uuid.uuid4().hex[:12]}@covo.test", "password": "bench-consumer-secret"}
        response = await http.post("/api/better_auth/signup", json=body)
        response.raise_for_status()
        return str(response.json()["token"])


async def provision(stack: Stack, http: httpx.AsyncClient, sim: httpx.AsyncClient, count: int) -> Provisioning:
    login = await http.post("/api/auth/login", data={"email": ADMIN_EMAIL, "password": stack.password})
    login.raise_for_status()
    admin = {"Authorization": f"Bearer {login.json()['token']}"}
    say(f"signing up {count} consumers")
    gate = asyncio.Semaphore(20)
    tokens = await asyncio.gather(*(sign_up(http, gate) for _ in range(count)))
    (await sim.post("/_sim/behaviour", json={"install": False, "completeAfter": 1.0})).raise_for_status()
    say(f"ordering {count} eSIMs at once")
    latencies: list[float] = []

    async def order(token: str) -> str:
        began = time.perf_counter()
        response = await http.post("/api/esims", json={}, headers={"Authorization": f"Bearer {token}"})
        latencies.append(time.perf_counter() - began)
        if response.status_code != 201:
            raise RuntimeError(f"POST /api/esims answered {response.status_code}: {response.text}")
        return str(response.json()["id"])

    began = time.perf_counter()
    await asyncio.gather(*(order(t) for t in tokens))
    placed = time.perf_counter() - began
    ready = 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        stack.check_children()
        listed = await http.get("/api/esims/admin", params={"pageSize": 200, "search": ""}, headers=admin)
        listed.raise_for_status()
        total = listed.json()["total"]
        ready = sum(1 for e in listed.json()["items"] if e["status"] in READY)
        if total > 200:  # more than one page: count the rest too
            more = await http.get("/api/esims/admin", params={"pageSize": 200, "page": 2}, headers=admin)
            ready += sum(1 for e in more.json()["items"] if e["status"] in READY)
        if ready >= count:
            break
        await asyncio.sleep(0.2)
    all_ready = time.perf_counter() - began
    stats = (await sim.get("/_sim/stats")).json()
    return Provisioning(count, placed, all_ready, pct(latencies, 50), pct(latencies, 99), int(stats["orders"]), ready)


async def intake(
    stack: Stack, http: httpx.AsyncClient, password: str, requests: int, concurrency: int, replays: int
) -> Intake:
    engine = create_engine(stack.env["DATABASE_URL"], pool_size=1)
    try:
        async with engine.connect() as conn:
            targets = [
                (str(r[0]), str(r[1]))
                for r in (
                    await conn.execute(
                        text("SELECT iccid, one_global_subscription_id FROM esims WHERE iccid IS NOT NULL")
                    )
                ).all()
            ]
        run = uuid.uuid4().hex[:8]
        events = []
        for i in range(requests):
            iccid, subscription = targets[i % len(targets)]
            events.append(
                {
                    "id": f"evt_bench_{run}_{i}",
                    "type": "USAGE_THRESHOLD",
                    "iccid": iccid,
                    "subscription_id": subscription,
                    "threshold": 80,
                    "current_balance": 1024**3 - (i + 1) * 1024,
                }
            )
        sends = events + events[:replays]  # replays: the same ids again
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        queue = list(reversed(sends))

        async def worker() -> None:
            while queue:
                event = queue.pop()
                began = time.perf_counter()
                response = await http.post("/api/esims/webhooks/1global", json=event, auth=(WEBHOOK_USER, password))
                latencies.append(time.perf_counter() - began)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        say(f"webhooks: {len(sends)} requests at concurrency {concurrency}")
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        ids = [e["id"] for e in events]
        count_recorded = text("SELECT count(*) FROM esim_events WHERE source_event_id = ANY(:ids)")
        deadline = time.monotonic() + 600
        async with engine.connect() as conn:
            while True:
                recorded = int((await conn.execute(count_recorded, {"ids": ids})).scalar_one())
                if recorded >= len(ids) or time.monotonic() > deadline:
                    break
                await conn.rollback()
                await asyncio.sleep(0.2)
            drained = time.perf_counter() - began
            await asyncio.sleep(2)  # anything applied twice would show up now
            recorded = int((await conn.execute(count_recorded, {"ids": ids})).scalar_one())
            stored = int(
                (
                    await conn.execute(
                        text("SELECT count(*) FROM oneglobal_webhooks WHERE event_id = ANY(:ids)"), {"ids": ids}
                    )
                ).scalar_one()
            )
        return Intake(len(sends), len(ids), concurrency, latencies, elapsed, statuses, drained, recorded, stored)
    finally:
        await engine.dispose()


async def measure(stack: Stack, args: argparse.Namespace, sim_url: str) -> tuple[Provisioning, Intake]:
    # Idle connections are dropped before uvicorn closes them (5 s), so none is reused half-closed.
    limits = httpx.Limits(max_connections=max(args.esims, args.concurrency) + 5, keepalive_expiry=1)
    async with (
        httpx.AsyncClient(base_url=stack.api_url, timeout=300, limits=limits) as http,
        httpx.AsyncClient(base_url=sim_url, timeout=30) as sim,
    ):
        provisioning = await provision(stack, http, sim, args.esims)
        await intake(stack, http, stack.env["ONEGLOBAL_WEBHOOK_PASSWORD"], args.warmup, args.concurrency, 0)
        result = await intake(
            stack, http, stack.env["ONEGLOBAL_WEBHOOK_PASSWORD"], args.requests, args.concurrency, args.replays
        )
        return provisioning, result


def report(p: Provisioning, i: Intake, args: argparse.Namespace, elapsed: float) -> str:
    rate = i.sent / i.elapsed
    p99 = pct(i.latencies, 99) * 1000
    lines = [
        "# eSIMs: provisioning and webhook intake benchmark",
        "",
        f"`.venv/bin/python bench/bench_esims.py`, {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}. Embedded stack as `make run` starts it (embedded Postgres, Temporal "
        f"dev server, the production worker, the API under uvicorn with {args.api_workers} worker process(es)) "
        "and the 1Global simulator as its own process (orders complete after 1 s, webhooks to the API); the "
        f"client runs in the bench process on the same machine. Run took {elapsed:.0f} s; 1-minute load average "
        f"at the end {os.getloadavg()[0]:.1f} (other processes on the machine inflate the figures).",
        "",
        f"## Provisioning: {p.esims} eSIMs ordered at once",
        "",
        "| measure | value |",
        "|---|---|",
        f"| all {p.esims} orders placed (every `POST /api/esims` answered 201) | {p.placed_s:.1f} s |",
        f"| `POST /api/esims` p50 / p99 (order placed at 1Global) | {p.order_p50 * 1000:.0f} / "
        f"{p.order_p99 * 1000:.0f} ms |",
        f"| all {p.esims} eSIMs `ready` (from the first POST; 1Global completes after 1 s) | {p.ready_s:.1f} s |",
        f"| eSIMs ready / orders at 1Global | {p.ready} / {p.orders_at_1global} |",
        "",
        f"## Webhook intake: {i.sent} requests at concurrency {i.concurrency}",
        "",
        f"`USAGE_THRESHOLD` events spread over the {p.esims} eSIMs, {i.unique} distinct ids plus {i.sent - i.unique} "
        "replays of already-sent ids; each request is answered once the raw event is stored; it is then handed to "
        f"the eSIM's workflow (signal-with-start) off the request path. {args.warmup} warm-up requests before.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| p50 / p99 | {pct(i.latencies, 50) * 1000:.1f} / {p99:.1f} ms |",
        f"| requests/s | {rate:.0f} |",
        f"| answers | {', '.join(f'{k}: {v}' for k, v in sorted(i.statuses.items()))} |",
        f"| raw events stored (distinct ids) | {i.stored} of {i.unique} |",
        f"| events in the eSIM event log (each applied once) | {i.recorded} of {i.unique} |",
        f"| all events applied by the workflows (from the first request) | {i.drained_s:.1f} s |",
        "",
        f"- [{'x' if p99 < 50 else ' '}] p99 < 50 ms (measured {p99:.1f} ms)",
        f"- [{'x' if rate >= 300 else ' '}] >= 300 requests/s (measured {rate:.0f}/s)",
        f"- [{'x' if i.recorded == i.unique == i.stored else ' '}] no event lost or applied twice",
        f"- [{'x' if p.orders_at_1global == p.esims == p.ready else ' '}] one order per eSIM, every eSIM ready",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--esims", type=int, default=200, help="eSIMs ordered at once (default 200)")
    parser.add_argument("--requests", type=int, default=3000, help="distinct webhook events (default 3000)")
    parser.add_argument("--replays", type=int, default=300, help="replayed webhook ids (default 300)")
    parser.add_argument("--concurrency", type=int, default=20, help="webhooks in flight at once (default 20)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up webhooks (default 200)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stack directory (logs)")
    parser.add_argument("--api-workers", type=int, default=2, help="API processes (API_WORKERS)")
    args = parser.parse_args()

    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    env = {
        "ONEGLOBAL_BASE_URL": sim_url,
        "ONEGLOBAL_CLIENT_ID": "covo-bench",
        "ONEGLOBAL_CLIENT_SECRET": "simulated",
        "ONEGLOBAL_WEBHOOK_USER": WEBHOOK_USER,
        "ONEGLOBAL_WEBHOOK_PASSWORD": secrets.token_urlsafe(24),
        "DB_POOL_SIZE": "20",
    }
    simulator = [sys.executable, "-m", "workers.onglobal.simulator", "--port", str(sim_port)]
    simulator += ["--webhook-url", "{api_url}/api/esims/webhooks/1global"]
    stack = Stack(
        keep=args.keep, api_workers=args.api_workers, extra_env=env, extra_children=[("onglobal-sim", simulator)]
    )
    return run(
        stack,
        lambda: asyncio.run(measure(stack, args, sim_url)),
        lambda measured, elapsed: report(*measured, args, elapsed),
        args.output,
    )


if __name__ == "__main__":
    sys.exit(main())
