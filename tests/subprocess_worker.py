"""Workers as real subprocesses (`python -m workers`, the production entry point) for crash tests
and drills, and an in-process API client built with changed settings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from engine.settings import Settings
from tests.conftest import Stack

ROOT = Path(__file__).resolve().parents[1]


class Workers:
    """`python -m workers` subprocesses on one task queue; whatever is still alive is killed at the end."""

    def __init__(self, stack: Stack, settings: Settings, task_queue: str) -> None:
        self.env = dict(
            os.environ,
            COVO_ENV="test",
            COVO_DATA_DIR=str(stack.data_dir),
            DATABASE_URL=stack.database_url,
            TEMPORAL_ADDRESS=stack.temporal_address,
            TEMPORAL_TASK_QUEUE=task_queue,
            JWT_SECRET=settings.jwt_secret,
            DB_POOL_SIZE="5",
            WORKFLOW_FUNCTION_MODULES="tests.workflows.functions",
        )
        self.log_dir = stack.data_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"drill-worker-{len(self.started)}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "workers"], cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@asynccontextmanager
async def app_client(
    make_client: Callable[..., AsyncIterator[httpx.AsyncClient]], **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    clients = make_client(**changes)
    client = await clients.__anext__()
    try:
        yield client
    finally:
        await clients.aclose()  # type: ignore[attr-defined]
