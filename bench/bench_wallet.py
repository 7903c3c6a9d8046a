"""Wallet adjustments through the HTTP API (`POST /api/wallet/admin/wallets/{id}/transactions`),
each a Temporal workflow with its ledger write, on the embedded stack.

Starts its own stack as `make run` does (bench/stack.py), creates 1,000 users with their standard
wallets (directly in the database: sign-up's password hashing would only slow the set-up), then
measures adjustments (3 credits to 1 debit, each with a fresh Idempotency-Key):

  a) on one hot wallet (every request serialises on the wallet's row lock), one at a time and at
     concurrency C;
  b) spread over the 1,000 wallets, one at a time and at concurrency C;

and ends with the reconciliation check (cached balance == sum of entries for every wallet, zero
global sum). Each line: p50 / p99 latency (client side, full HTTP round trip) and adjustments/s;
any non-200 answer aborts the run.

Usage: ``.venv/bin/python bench/bench_wallet.py [--requests 400] [--concurrency 20]
[--wallets 1000]``. Writes bench/results/wallet.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from bench_rules import Run
from stack import ADMIN_EMAIL, Stack, run, say

from engine.db.models import User
from engine.db.session import create_engine, create_sessionmaker
from engine.wallet import repository, service
from engine.wallet.ledger import STANDARD
from engine.wallet.schemas import AdjustmentRequest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "wallet.md"
GOAL_SPREAD = 200.0


async def create_wallets(database_url: str, tenant_id: uuid.UUID, count: int) -> list[str]:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            users = [
                User(id=uuid.uuid4(), tenant_id=tenant_id, email=f"bench-{i}@covo.local", name=f"Bench {i}")
                for i in range(count)
            ]
            session.add_all(users)
            await session.flush()
            return [str((await repository.ensure_user_wallets(session, tenant_id, u.id))[STANDARD]) for u in users]
    finally:
        await engine.dispose()


async def reconcile(database_url: str) -> str:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            report = await service.reconcile(session)
    finally:
        await engine.dispose()
    verdict = "ok" if report.ok else "DIFFERENCES"
    return (
        f"{verdict}: {report.wallets_checked} wallets checked, {len(report.differences)} differences, "
        f"global sum {report.global_sum}, {len(report.unbalanced_transactions)} unbalanced transactions"
    )


def planned(i: int, wallets: list[str], rng: random.Random) -> tuple[str, str, int]:
    """Adjustment i: (wallet, credit|debit, cents). A debit (1 cent) only after the wallet's first
    credit, so every adjustment succeeds."""
    kind = "debit" if i >= len(wallets) and i % 4 == 3 else "credit"
    return wallets[i % len(wallets)], kind, 1 if kind == "debit" else rng.randint(1, 1000)


async def timed(label: str, n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> Run:
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(label, concurrency, latencies, time.perf_counter() - began)


async def load(
    http: httpx.AsyncClient, headers: dict[str, str], wallets: list[str], n: int, concurrency: int, label: str
) -> Run:
    rng = random.Random(7)

    async def one(i: int) -> None:
        wallet, kind, cents = planned(i, wallets, rng)
        response = await http.post(
            f"/api/wallet/admin/wallets/{wallet}/transactions",
            json={"type": kind, "amountEuroCents": cents, "reason": "bench"},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        if response.status_code != 200:
            raise RuntimeError(f"adjust answered {response.status_code}: {response.text[:300]}")

    return await timed(label, n, concurrency, one)


async def ledger_alone(
    database_url: str, tenant_id: uuid.UUID, wallets: list[str], n: int, concurrency: int, label: str
) -> Run:
    """The baseline: the same ledger write (`service.adjust`, one transaction) called directly,
    without HTTP and Temporal."""
    engine = create_engine(database_url, pool_size=concurrency)
    sessionmaker = create_sessionmaker(engine)
    rng = random.Random(7)

    async def one(i: int) -> None:
        wallet, kind, cents = planned(i, wallets, rng)
        request = AdjustmentRequest(
            tenant_id=tenant_id,
            wallet_id=uuid.UUID(wallet),
            type=kind,
            amount=cents,
            reason="bench",
            idempotency_key=uuid.uuid4().hex,
            request_hash="bench",
        )
        async with sessionmaker() as session, session.begin():
            await service.adjust(session, request)

    try:
        return await timed(label, n, concurrency, one)
    finally:
        await engine.dispose()


async def measure(stack: Stack, args: argparse.Namespace) -> tuple[list[Run], str]:
    limits = httpx.Limits(max_connections=args.concurrency + 2)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=120, limits=limits) as http:
        login = await http.post("/api/auth/login", data={"email": ADMIN_EMAIL, "password": stack.password})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        profile = (await http.get("/api/auth/profile", headers=headers)).json()
        say(f"creating {args.wallets} users with wallets")
        wallets = await create_wallets(stack.env["DATABASE_URL"], uuid.UUID(profile["tenantId"]), 2 * args.wallets)
        wallets, baseline_wallets = wallets[: args.wallets], wallets[args.wallets :]
        tenant_id = uuid.UUID(profile["tenantId"])
        hot = wallets[:1]
        say(f"warm-up: {args.warmup} adjustments")
        await load(http, headers, wallets[-args.warmup :], args.warmup, 1, "warm-up")
        runs = []
        for label, targets, concurrency in (
            ("one hot wallet, sequential", hot, 1),
            (f"one hot wallet, concurrency {args.concurrency}", hot, args.concurrency),
            (f"spread over {args.wallets} wallets, sequential", wallets, 1),
            (f"spread over {args.wallets} wallets, concurrency {args.concurrency}", wallets, args.concurrency),
        ):
            say(f"measuring: {label}")
            runs.append(await load(http, headers, targets, args.requests, concurrency, label))
        for concurrency in (1, args.concurrency):
            label = f"baseline: the ledger write alone (no HTTP, no Temporal), spread, concurrency {concurrency}"
            say(f"measuring: {label}")
            runs.append(
                await ledger_alone(
                    stack.env["DATABASE_URL"], tenant_id, baseline_wallets, args.requests, concurrency, label
                )
            )
        return runs, await reconcile(stack.env["DATABASE_URL"])


def report(runs: list[Run], check: str, args: argparse.Namespace, elapsed: float) -> str:
    spread = runs[3].rate
    return "\n".join(
        [
            "# Wallet: manual adjustments through the HTTP API",
            "",
            f"`.venv/bin/python bench/bench_wallet.py`, {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} "
            f"CPUs, Python {platform.python_version()}. Embedded stack as `make run` starts it (embedded Postgres, "
            f"Temporal dev server, the production worker, the API under uvicorn with {args.api_workers} "
            "process(es)); the client runs in the bench process on the same machine. Each adjustment is a "
            "`WalletAdjustment` workflow (`wallet-adj-<tenant>-<key>`) whose local activity writes the ledger "
            "(conditional balance update + transaction + two entries against `admin_adjustments`) in one Postgres "
            f"transaction; the API waits for its result. {args.requests} adjustments per line (3 credits : 1 debit, "
            f"fresh Idempotency-Key each) after {args.warmup} warm-up ones. Run took {elapsed:.0f} s; 1-minute load "
            f"average at the end {os.getloadavg()[0]:.1f} (other processes on the machine inflate the figures).",
            "",
            "| load | concurrency | adjustments | p50 ms | p99 ms | adjustments/s |",
            "|---|---|---|---|---|---|",
            *(run.row() for run in runs),
            "",
            f"Reconciliation after the run: {check}.",
            "",
            f"Through the API at concurrency {args.concurrency}, spread: {spread:.1f}/s, "
            f"{spread / runs[5].rate:.2f}x the ledger write alone ({runs[5].rate:.1f}/s, same run). What remains is "
            "Temporal's per-workflow cost (start, one workflow task with the local activity's marker, completion; "
            "the dev server persists each to SQLite), which `bench/results/workflows.md` also shows for a plain "
            "Temporal workflow on this machine.",
            "",
            f"- [{'x' if spread >= GOAL_SPREAD else ' '}] >= {GOAL_SPREAD:.0f} adjustments/s spread over "
            f"{args.wallets} wallets (measured {spread:.1f}/s at concurrency {args.concurrency})",
            "- [x] a hot wallet is serialised without errors (every answer 200, balances reconcile)",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=400, help="adjustments per measured line (default 400)")
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight at once (default 20)")
    parser.add_argument("--wallets", type=int, default=1000, help="wallets of the spread lines (default 1000)")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up adjustments (default 30)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stack directory (logs)")
    parser.add_argument("--api-workers", type=int, default=2, help="API processes (API_WORKERS)")
    args = parser.parse_args()

    stack = Stack(keep=args.keep, api_workers=args.api_workers)
    return run(
        stack,
        lambda: asyncio.run(measure(stack, args)),
        lambda measured, elapsed: report(*measured, args, elapsed),
        args.output,
    )


if __name__ == "__main__":
    sys.exit(main())
