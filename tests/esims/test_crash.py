"""A worker SIGKILLed while it is placing the order: the new worker retries the activity with the
same Idempotency-Key, 1Global (the simulator) has exactly one order, and the eSIM ends ready.

The worker is a real subprocess (`python -m workers`, the production entry point) on its own task
queue; the API asking for the eSIM is the app with that task queue."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx

from tests.conftest import Stack
from tests.consumers.conftest import SignedUpConsumer
from tests.esims.conftest import EsimStack
from tests.subprocess_worker import Workers, app_client


async def test_a_worker_killed_while_placing_the_order_leaves_one_order_and_a_ready_esim(
    stack: Stack,
    esims: EsimStack,
    consumer: SignedUpConsumer,
    make_client: Callable[..., AsyncIterator[httpx.AsyncClient]],
) -> None:
    task_queue = f"covo-esim-crash-{uuid.uuid4().hex[:8]}"
    # 1Global takes its time to answer the order: the worker dies while it waits.
    await esims.behave(consumer.email, orderDelay=4, install=False)
    workers = Workers(stack, esims.settings, task_queue)
    workers.env.update(
        ONEGLOBAL_BASE_URL=esims.settings.oneglobal_base_url,
        ONEGLOBAL_CLIENT_ID="covo-test",
        ONEGLOBAL_CLIENT_SECRET="covo-test-secret",
    )
    try:
        first = workers.start()
        async with app_client(make_client, temporal_task_queue=task_queue, esims_poll_seconds=2.0) as api:
            ordering = asyncio.create_task(api.post("/api/esims", json={}, headers=consumer.headers))
            deadline = time.monotonic() + 60
            while esims.sim.state.order_posts.get(consumer.email, 0) < 1:
                assert first.poll() is None, "the worker died on its own"
                assert time.monotonic() < deadline, "the order never reached 1Global"
                await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            assert first.wait(10) == -signal.SIGKILL
            workers.start()

            response = await asyncio.wait_for(ordering, 120)
        assert response.status_code == 201, response.text
        esim_id = response.json()["id"]
        ready = await esims.wait_for(consumer, esim_id, "ready", within=120)
    finally:
        workers.stop_all()

    assert ready["iccid"] and ready["activationCode"]
    # Asked twice (the second attempt after the kill), ordered once.
    assert esims.sim.state.order_posts[consumer.email] >= 2
    assert len(esims.orders_of(consumer.email)) == 1
    [event] = [e for e in await esims.events(esim_id) if e.applied]
    assert (event.kind, event.to_status) == ("order_completed", "ready")
