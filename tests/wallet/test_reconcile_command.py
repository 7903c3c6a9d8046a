"""`covo wallet reconcile` against the real database: a JSON report, exit 0 while the ledger holds,
1 with the wallet named when a cached balance drifted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Account, Stack
from tests.subprocess_worker import ROOT
from tests.wallet.conftest import Wallets, adjust


def _reconcile(stack: Stack) -> tuple[int, dict[str, object]]:
    env = dict(os.environ, DATABASE_URL=stack.database_url, COVO_ENV="test", COVO_DATA_DIR=str(stack.data_dir))
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "wallet", "reconcile"], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    return done.returncode, json.loads(done.stdout)


async def test_reconcile_command_reports_ok_then_a_drifted_wallet(
    stack: Stack,
    client: httpx.AsyncClient,
    admin: Account,
    wallets: Wallets,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await adjust(client, admin, wallets.standard, "credit", 250)
    code, report = _reconcile(stack)
    assert (code, report["ok"], report["global_sum"]) == (0, True, 0)
    async with sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE wallets SET balance = balance + 7 WHERE id = :w"), {"w": wallets.standard})
    try:
        code, report = _reconcile(stack)
    finally:
        async with sessionmaker() as session, session.begin():
            await session.execute(
                text("UPDATE wallets SET balance = balance - 7 WHERE id = :w"), {"w": wallets.standard}
            )
    assert code == 1
    assert report["differences"] == [
        {"wallet_id": wallets.standard, "tenant_id": str(admin.tenant_id), "cached": 257, "entries": 250}
    ]
