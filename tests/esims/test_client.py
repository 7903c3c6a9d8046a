"""The 1Global HTTP client against the simulator: one token for concurrent callers, the headers
every call carries, retries on 429/5xx honouring Retry-After, 4xx refused with the vendor's words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from engine.esims.ports import OneGlobalRefused, OneGlobalUnavailable
from engine.settings import Settings
from workers.onglobal.client import OneGlobalClient
from workers.onglobal.simulator import Failure, Simulator, running


@dataclass
class Vendor:
    simulator: Simulator
    client: OneGlobalClient
    sent: list[dict[str, str]]  # the headers of every request the client sent


@pytest.fixture
async def vendor(settings: Settings) -> AsyncIterator[Vendor]:
    async with running("http://127.0.0.1:9/nowhere", "u", "p") as (simulator, url):
        client = OneGlobalClient(settings.model_copy(update={"oneglobal_base_url": url, "oneglobal_max_attempts": 3}))
        sent: list[dict[str, str]] = []

        async def record(request: httpx.Request) -> None:
            sent.append(dict(request.headers))

        client.http.event_hooks["request"].append(record)
        try:
            yield Vendor(simulator, client, sent)
        finally:
            await client.aclose()


async def test_concurrent_calls_share_one_token_and_carry_the_headers(vendor: Vendor) -> None:
    simulator, client = vendor.simulator, vendor.client
    await asyncio.gather(*(client.get_account("acc_1") for _ in range(10)))
    assert len(simulator.state.tokens) == 1
    calls = [h for h in vendor.sent if "authorization" in h]
    assert len(calls) == 10
    assert all(h["api-version"] == "2026-02-05" for h in calls)
    assert len({h["x-correlation-id"] for h in calls}) == 10

    order, again = [
        await client.activate_subscription(
            subscriber_id="sbr_1",
            email="a@covo.test",
            first_name="A",
            last_name="B",
            product_offering_id="prdoff_1",
            idempotency_key="esim-1",
        )
        for _ in range(2)
    ]
    assert again.id == order.id and len(simulator.state.orders) == 1
    assert vendor.sent[-1]["idempotency-key"] == "esim-1"


async def test_429_and_5xx_are_retried_until_the_attempts_run_out(vendor: Vendor) -> None:
    simulator, client = vendor.simulator, vendor.client
    simulator.state.failure = Failure(status=429, count=2, retry_after=0.05)
    assert (await client.get_account("acc_1"))["id"] == "acc_1"
    simulator.state.failure = Failure(status=503, count=3)
    with pytest.raises(OneGlobalUnavailable, match="503"):
        await client.get_account("acc_1")


async def test_other_4xx_are_refused_at_once_with_the_vendors_message(vendor: Vendor) -> None:
    simulator, client = vendor.simulator, vendor.client
    with pytest.raises(OneGlobalRefused) as refused:
        await client.get_order("order_missing")
    assert refused.value.status == 404 and refused.value.message == "NOT_FOUND: order not found"
    assert simulator.state.requests == 1
