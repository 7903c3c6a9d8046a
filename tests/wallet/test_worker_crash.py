"""A worker SIGKILLed in the middle of an adjustment's ledger write: after a new worker takes over,
the adjustment exists exactly once and the caller gets its answer. The worker is a real
subprocess (`python -m workers`, as in tests/drills); the test holds the wallet's row lock so the
activity is provably inside its database transaction when the worker dies."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import WalletTransactionRow
from engine.settings import Settings
from engine.wallet import service
from tests.conftest import Account, Stack
from tests.subprocess_worker import Workers, app_client
from tests.wallet.conftest import Wallets, adjust, balances


async def _waiting_on_lock(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    async with sessionmaker() as session:
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE wallets%'"
            )
        )
    return bool(waiting)


async def test_worker_killed_mid_adjustment_leaves_exactly_one_entry(
    stack: Stack,
    settings: Settings,
    make_client: Callable[..., AsyncIterator[httpx.AsyncClient]],
    client: httpx.AsyncClient,
    admin: Account,
    wallets: Wallets,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    task_queue = f"covo-wallet-crash-{uuid.uuid4().hex[:8]}"
    workers = Workers(stack, settings, task_queue)
    try:
        first = workers.start()
        async with app_client(
            make_client, temporal_task_queue=task_queue, wallet_adjust_wait_seconds=5
        ) as crash_client:
            async with sessionmaker() as blocker:
                await blocker.execute(text("SELECT id FROM wallets WHERE id = :w FOR UPDATE"), {"w": wallets.standard})
                answer = asyncio.create_task(
                    adjust(crash_client, admin, wallets.standard, "credit", 1234, key="crash-1")
                )
                deadline = time.monotonic() + 60
                while not await _waiting_on_lock(sessionmaker):
                    assert first.poll() is None, "the worker died on its own"
                    assert time.monotonic() < deadline, "the activity never reached the ledger write"
                    await asyncio.sleep(0.1)
                first.send_signal(signal.SIGKILL)
                assert first.wait(10) == -signal.SIGKILL
                await blocker.rollback()
            workers.start()
            response = await asyncio.wait_for(answer, timeout=120)
            # The request may give up waiting (503) while the new worker takes over; a retry with
            # the same key gets the first (and only) result.
            deadline = time.monotonic() + 120
            while response.status_code == 503 and time.monotonic() < deadline:
                response = await adjust(crash_client, admin, wallets.standard, "credit", 1234, key="crash-1")
        assert response.status_code == 200, response.text
        assert response.json()["newBalance"]["amount"] == 1234
    finally:
        workers.stop_all()
    assert (await balances(client, wallets.consumer))["standard"] == 1234
    async with sessionmaker() as session:
        count = await session.scalar(select(func.count()).where(WalletTransactionRow.tenant_id == admin.tenant_id))
        report = await service.reconcile(session)
    assert count == 1
    assert report.ok
