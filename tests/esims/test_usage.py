"""Usage: the 7-day timeline from 1Global's usage webhooks and from the usage sync, the summary,
and the end of a subscription (depleted, expired) with late events recorded and ignored."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client

from engine.esims import service
from tests.consumers.conftest import SignedUpConsumer
from tests.esims.conftest import EsimStack

MB = 1024 * 1024
PLAN = 1024**3


async def use(esims: EsimStack, subscription_id: str, amount: int, days_ago: int = 0) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    response = await esims.sim_http.post(
        "/_sim/usage", json={"subscriptionId": subscription_id, "bytes": amount, "at": at}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def ready_esim(esims: EsimStack, consumer: SignedUpConsumer) -> tuple[str, str]:
    await esims.behave(consumer.email, install=False)
    esim_id = await esims.ordered(consumer)
    await esims.wait_for(consumer, esim_id, "ready")
    listed = await esims.rows("SELECT one_global_subscription_id FROM esims WHERE id = CAST(:id AS uuid)", id=esim_id)
    return esim_id, str(listed[0][0])


async def usage_of(esims: EsimStack, consumer: SignedUpConsumer, esim_id: str) -> dict[str, Any]:
    response = await esims.http.get(f"/api/esims/{esim_id}/usage", headers=consumer.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def eventually_used(esims: EsimStack, consumer: SignedUpConsumer, esim_id: str, amount: int) -> None:
    deadline = time.monotonic() + 30
    while (await esims.detail(consumer, esim_id))["usedBytes"] != amount:
        assert time.monotonic() < deadline, "usage webhook not applied"
        await asyncio.sleep(0.1)


async def test_usage_threshold_webhook_and_usage_sync_fill_the_7_day_timeline(
    esims: EsimStack, consumer: SignedUpConsumer, temporal_client: Client
) -> None:
    esim_id, subscription_id = await ready_esim(esims, consumer)
    empty = await usage_of(esims, consumer, esim_id)
    assert len(empty["timeline"]) == 7 and all(d["usageBytes"] == 0 for d in empty["timeline"])
    assert empty["timeline"][-1]["date"] == datetime.now(UTC).date().isoformat()

    await use(esims, subscription_id, 300 * MB, days_ago=2)  # below 80 %: no webhook
    sent = await use(esims, subscription_id, 600 * MB)  # crosses 80 %: USAGE_THRESHOLD
    assert len(sent["events"]) == 1
    await eventually_used(esims, consumer, esim_id, 900 * MB)
    # The webhook only says how much is left: everything lands on today until the sync itemises it.
    before = await usage_of(esims, consumer, esim_id)
    assert [d["usageBytes"] for d in before["timeline"]] == [0, 0, 0, 0, 0, 0, 900 * MB]
    assert (before["usedBytes"], before["totalBytes"], before["usagePercent"]) == (900 * MB, PLAN, 87.9)

    result = await service.sync_usage(temporal_client, esims.settings.temporal_task_queue, tenant_id=consumer.tenant_id)
    assert result.esims == 1 and result.items >= 2
    after = await usage_of(esims, consumer, esim_id)
    assert [d["usageBytes"] for d in after["timeline"]] == [0, 0, 0, 0, 300 * MB, 0, 600 * MB]
    assert [d["totalBytes"] for d in after["timeline"]][-3:] == [300 * MB, 300 * MB, 900 * MB]

    summary = await esims.http.get("/api/esims/usage-summary", headers=consumer.headers)
    assert summary.json() == {
        "totalUsedBytes": 900 * MB,
        "totalAvailableBytes": PLAN - 900 * MB,
        "dataLimitBytes": None,
        "activeEsimCount": 1,
    }


async def test_a_used_up_plan_is_depleted_and_throttled(esims: EsimStack, consumer: SignedUpConsumer) -> None:
    esim_id, subscription_id = await ready_esim(esims, consumer)
    await use(esims, subscription_id, PLAN)  # threshold and subscription end at once
    depleted = await esims.wait_for(consumer, esim_id, "depleted")
    assert depleted["usedBytes"] == depleted["totalBytes"] == PLAN
    assert depleted["isThrottled"] is True
    summary = await esims.http.get("/api/esims/usage-summary", headers=consumer.headers)
    assert summary.json()["activeEsimCount"] == 0


async def test_an_expired_esim_ends_and_late_events_are_recorded_but_ignored(
    esims: EsimStack, consumer: SignedUpConsumer
) -> None:
    esim_id, subscription_id = await ready_esim(esims, consumer)
    expired = await esims.sim_http.post(f"/_sim/subscriptions/{subscription_id}/expire")
    assert expired.status_code == 200
    done = await esims.wait_for(consumer, esim_id, "expired")

    # The workflow has ended; a late device event starts it again only to record it.
    late = await esims.webhook(
        {
            "id": "evt_late_install_" + esim_id,
            "type": "DOWNLOAD_PROGRESS",
            "iccid": done["iccid"],
            "download_progress_step": "BPP_INSTALLATION",
            "notification_status": "SUCCESS",
        }
    )
    assert late.status_code == 200
    deadline = time.monotonic() + 30
    while not [e for e in await esims.events(esim_id) if e.kind == "installed"]:
        assert time.monotonic() < deadline, "the late event was not recorded"
        await asyncio.sleep(0.1)
    installed = [e for e in await esims.events(esim_id) if e.kind == "installed"]
    assert [(e.from_status, e.to_status, e.applied) for e in installed] == [("expired", "expired", False)]
    assert (await esims.detail(consumer, esim_id))["status"] == "expired"
