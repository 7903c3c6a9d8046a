"""A worker SIGKILLed while it is placing the order: the new worker retries the activity with the
same Idempotency-Key, 1Global (the simulator) has exactly one order, and the eSIM ends ready.

The worker is a real subprocess (`python -m workers`, the production entry point) on its own task
queue; the API asking for the eSIM is the app with that task queue."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx

from engine.settings import Settings
from tests.conftest import Stack
from tests.consumers.conftest import SignedUpConsumer
from tests.esims.conftest import EsimStack

ROOT = Path(__file__).resolve().parents[2]


def start_worker(stack: Stack, settings: Settings, task_queue: str, number: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        COVO_ENV="test",
        COVO_DATA_DIR=str(stack.data_dir),
        DATABASE_URL=stack.database_url,
        TEMPORAL_ADDRESS=stack.temporal_address,
        TEMPORAL_TASK_QUEUE=task_queue,
        JWT_SECRET=settings.jwt_secret,
        DB_POOL_SIZE="3",
        ONEGLOBAL_BASE_URL=settings.oneglobal_base_url,
        ONEGLOBAL_CLIENT_ID="covo-test",
        ONEGLOBAL_CLIENT_SECRET="covo-test-secret",
    )
    with open(stack.data_dir / f"esim-crash-worker-{number}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "workers"], cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )


async def test_a_worker_killed_while_placing_the_order_leaves_one_order_and_a_ready_esim(
    stack: Stack,
    esims: EsimStack,
    consumer: SignedUpConsumer,
    make_client: Callable[..., AsyncIterator[httpx.AsyncClient]],
) -> None:
    task_queue = f"covo-esim-crash-{uuid.uuid4().hex[:8]}"
    # 1Global takes its time to answer the order: the worker dies while it waits.
    await esims.behave(consumer.email, orderDelay=4, install=False)
    workers = [start_worker(stack, esims.settings, task_queue, 0)]
    clients = make_client(temporal_task_queue=task_queue, esims_poll_seconds=2.0)
    api = await clients.__anext__()
    try:
        ordering = asyncio.create_task(api.post("/api/esims", json={}, headers=consumer.headers))
        deadline = time.monotonic() + 60
        while esims.sim.state.order_posts.get(consumer.email, 0) < 1:
            assert workers[0].poll() is None, "the worker died on its own"
            assert time.monotonic() < deadline, "the order never reached 1Global"
            await asyncio.sleep(0.05)
        workers[0].send_signal(signal.SIGKILL)
        assert workers[0].wait(10) == -signal.SIGKILL
        workers.append(start_worker(stack, esims.settings, task_queue, 1))

        response = await asyncio.wait_for(ordering, 120)
        assert response.status_code == 201, response.text
        esim_id = response.json()["id"]
        ready = await esims.wait_for(consumer, esim_id, "ready", within=120)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(30)
        await clients.aclose()  # type: ignore[attr-defined]

    assert ready["iccid"] and ready["activationCode"]
    # Asked twice (the second attempt after the kill), ordered once.
    assert esims.sim.state.order_posts[consumer.email] >= 2
    assert len(esims.orders_of(consumer.email)) == 1
    [event] = [e for e in await esims.events(esim_id) if e.applied]
    assert (event.kind, event.to_status) == ("order_completed", "ready")
