"""Ordering an eSIM through the HTTP API against the 1Global simulator: pending once the order is
placed, ready with every activation artefact, then installed from the device's webhooks."""

from __future__ import annotations

from tests.conftest import Account
from tests.esims.conftest import EsimStack


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

    kinds = [(e.kind, e.to_status, e.applied) for e in await esims.events(esim_id)]
    assert kinds == [
        ("order_completed", "ready", True),
        ("downloaded", "downloaded", True),
        ("installed", "installed", True),
    ]

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
