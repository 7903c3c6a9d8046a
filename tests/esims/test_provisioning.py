"""Ordering an eSIM through the HTTP API against the 1Global simulator: pending once the order is
placed, ready with every activation artefact, then installed from the device's webhooks; and
everything 1Global can do wrong on the way."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.esims.service import set_price
from tests.conftest import Account
from tests.consumers.conftest import SignedUpConsumer, sign_up
from tests.esims.conftest import EsimStack
from tests.helpers import nothing_written
from tests.wallet.conftest import adjust, balances, wallets_of


async def test_an_ordered_esim_is_pending_then_ready_with_its_activation_code_then_installed(
    esims: EsimStack, consumer: SignedUpConsumer
) -> None:
    esim_id = await esims.ordered(consumer)
    assert len(esims.orders_of(consumer.email)) == 1

    ready = await esims.wait_for(consumer, esim_id, "installed")
    assert ready["iccid"] and ready["iccid"].startswith("8944")
    assert ready["matchingId"]
    assert ready["activationCode"] == f"LPA:1$rsp.truphone.com${ready['matchingId']}"
    assert ready["qrCodeUrl"].endswith(f"{ready['matchingId']}.png")
    assert ready["totalBytes"] == 1024**3 and ready["usedBytes"] == 0
    assert ready["expiresAt"] and ready["phoneNumber"]
    assert ready["homeZoneDisabled"] is False and ready["isThrottled"] is False

    events = await esims.events(esim_id)
    assert [(e.kind, e.to_status) for e in events[:1]] == [("order_completed", "ready")]
    # The device's webhooks, in whatever order they were handled: installed is where it ends.
    assert sorted(e.kind for e in events[1:]) == ["downloaded", "installed"]
    assert [e.kind for e in events if e.applied][-1] == "installed"

    mine = await esims.http.get("/api/esims/list", headers=consumer.headers)
    assert mine.status_code == 200
    assert [e["id"] for e in mine.json()["esims"]] == [esim_id]
    assert mine.json()["esims"][0]["usagePercent"] == 0.0
    summary = await esims.http.get("/api/esims/usage-summary", headers=consumer.headers)
    assert summary.json() == {
        "totalUsedBytes": 0,
        "totalAvailableBytes": 1024**3,
        "dataLimitBytes": None,
        "activeEsimCount": 1,
    }


async def test_duplicate_and_out_of_order_webhooks_move_the_status_forward_once(
    esims: EsimStack, consumer: SignedUpConsumer
) -> None:
    # Every webhook three times, the device's "installed" before its "downloaded".
    await esims.behave(consumer.email, duplicates=2, outOfOrder=True)
    esim_id = await esims.ordered(consumer)
    await esims.wait_for(consumer, esim_id, "installed")
    await asyncio.sleep(1)  # let the last duplicates land

    events = await esims.events(esim_id)
    applied = [(e.kind, e.to_status) for e in events if e.applied]
    assert applied == [("order_completed", "ready"), ("installed", "installed")]
    ignored = [(e.kind, e.from_status, e.to_status) for e in events if not e.applied]
    assert ignored == [("downloaded", "installed", "installed")]  # late: recorded, status kept
    stored = await esims.rows(
        "SELECT normalized_type, count(*) FROM oneglobal_webhooks WHERE esim_id = CAST(:id AS uuid)"
        " GROUP BY normalized_type ORDER BY 1",
        id=esim_id,
    )
    # Nine deliveries, three events: each stored once.
    assert [tuple(r) for r in stored] == [("download_progress", 2), ("order_completed", 1)]
    assert (await esims.detail(consumer, esim_id))["status"] == "installed"


async def test_vendor_429_and_5xx_are_retried_then_the_order_is_placed_once(
    esims: EsimStack, consumer: SignedUpConsumer
) -> None:
    await esims.behave(consumer.email, failOrders=4, failStatus=429, retryAfter=0.1)
    esim_id = await esims.ordered(consumer)
    await esims.wait_for(consumer, esim_id, "ready")
    assert esims.sim.state.order_posts[consumer.email] == 5  # four refusals, then the order
    assert len(esims.orders_of(consumer.email)) == 1

    other = await sign_up_in(esims, consumer)
    await esims.behave(other.email, failOrders=2, failStatus=503)
    again = await esims.ordered(other)
    await esims.wait_for(other, again, "ready")
    assert len(esims.orders_of(other.email)) == 1


async def sign_up_in(esims: EsimStack, near: SignedUpConsumer) -> SignedUpConsumer:
    return await sign_up(esims.asgi, near.tenant_id)


async def test_a_refused_order_is_a_502_with_the_vendors_message_and_nothing_stays_pending(
    esims: EsimStack, consumer: SignedUpConsumer, tenant_admin: Account
) -> None:
    await esims.behave(consumer.email, refuse={"status": 406, "message": "daily eSIM resource limit exceeded"})
    response = await esims.order(consumer)
    assert response.status_code == 502
    assert "daily eSIM resource limit exceeded" in response.json()["error"]
    assert esims.orders_of(consumer.email) == []

    listed = await esims.http.get("/api/esims/admin", headers=tenant_admin.headers)
    assert [e["status"] for e in listed.json()["items"]] == ["provisioning_failed"]
    assert listed.json()["items"][0]["oneGlobalOrderId"] is None


async def test_a_canceled_order_ends_provisioning_failed(esims: EsimStack, consumer: SignedUpConsumer) -> None:
    await esims.behave(consumer.email, cancel=True)
    esim_id = await esims.ordered(consumer)
    failed = await esims.wait_for(consumer, esim_id, "provisioning_failed")
    assert failed["iccid"] is None and failed["activationCode"] is None
    [event] = await esims.events(esim_id)
    assert (event.kind, event.from_status, event.to_status) == ("order_canceled", "pending", "provisioning_failed")


async def test_webhook_silence_is_covered_by_polling(esims: EsimStack, consumer: SignedUpConsumer) -> None:
    await esims.behave(consumer.email, silent=True)
    esim_id = await esims.ordered(consumer)
    ready = await esims.wait_for(consumer, esim_id, "ready")
    assert ready["activationCode"].startswith("LPA:1$")
    [event] = await esims.events(esim_id)
    assert (event.kind, event.to_status, event.source) == ("order_completed", "ready", "poll")
    assert await esims.rows("SELECT 1 FROM oneglobal_webhooks WHERE esim_id = CAST(:id AS uuid)", id=esim_id) == []


async def test_ordering_needs_an_active_consumer_profile(
    esims: EsimStack, consumer: SignedUpConsumer, tenant_admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    generate = "/api/esims/admin/generate"
    async with nothing_written(sessionmaker, tenant_admin.tenant_id):
        # The admin has no consumer profile.
        assert (await esims.order(tenant_admin)).status_code == 404
        missing = await esims.http.post(generate, json={"name": "x"}, headers=tenant_admin.headers)
        assert missing.status_code == 400
        unknown = await esims.http.post(generate, json={"consumerId": str(uuid.uuid4())}, headers=tenant_admin.headers)
        assert unknown.status_code == 404
    made = await esims.http.post(
        generate, json={"consumerId": consumer.id, "name": "Trip"}, headers=tenant_admin.headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "pending"
    assert (await esims.detail(consumer, made.json()["id"]))["status"] in (
        "pending",
        "ready",
        "downloaded",
        "installed",
    )

    async with esims.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE consumers SET active = false WHERE id = CAST(:id AS uuid)"), {"id": consumer.id}
        )
    inactive = await esims.http.post(generate, json={"consumerId": consumer.id}, headers=tenant_admin.headers)
    assert inactive.status_code == 404
    assert (await esims.order(consumer)).status_code == 404
    assert len(esims.orders_of(consumer.email)) == 1
    assert (await esims.http.get("/api/esims/admin", headers=tenant_admin.headers)).json()["total"] == 1


async def test_a_priced_esim_holds_the_money_posts_it_when_ready_and_voids_it_on_failure(
    esims: EsimStack, consumer: SignedUpConsumer, tenant_admin: Account
) -> None:
    async with esims.sessionmaker() as session, session.begin():
        await set_price(session, tenant_admin.tenant_id, esims.settings.oneglobal_product_offering_id, 700)
    wallets = await wallets_of(esims.asgi, consumer)

    # Too little money: 422 before any order, and no eSIM.
    poor = await esims.order(consumer)
    assert poor.status_code == 422, poor.text
    assert esims.orders_of(consumer.email) == []
    assert (await esims.http.get("/api/esims/list", headers=consumer.headers)).json()["total"] == 0

    assert (await adjust(esims.asgi, tenant_admin, wallets.standard, "credit", 1000)).status_code == 200
    esim_id = await esims.ordered(consumer)
    await esims.wait_for(consumer, esim_id, "ready")
    assert await balances(esims.asgi, consumer) == {"standard": 300, "bonus": 0, "total": 300}

    # Canceled by 1Global: the hold is voided, the money is back.
    assert (await adjust(esims.asgi, tenant_admin, wallets.standard, "credit", 700)).status_code == 200
    await esims.behave(consumer.email, cancel=True)
    canceled = await esims.ordered(consumer)
    await esims.wait_for(consumer, canceled, "provisioning_failed")
    assert await balances(esims.asgi, consumer) == {"standard": 1000, "bonus": 0, "total": 1000}
    holds = await esims.rows(
        "SELECT reference_id, status FROM wallet_holds WHERE tenant_id = CAST(:t AS uuid) ORDER BY created_at",
        t=str(tenant_admin.tenant_id),
    )
    assert [h.status for h in holds] == ["posted", "voided"]
