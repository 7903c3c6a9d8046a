"""The 1Global webhook endpoint: Basic auth, size limit before parsing, JSON and field checks,
storage before anything else, replays that change nothing, unknown and misspelt types."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from engine import metrics
from engine.esims import repository, service
from engine.esims.schemas import SweepWebhooks
from engine.esims.workflows import EsimWebhookSweepWorkflow
from tests.consumers.conftest import SignedUpConsumer
from tests.esims.conftest import WEBHOOK_PASSWORD, WEBHOOK_USER, EsimStack

URL = "/api/esims/webhooks/1global"


async def stored(esims: EsimStack, event_id: str) -> list[tuple[str, str]]:
    rows = await esims.rows("SELECT type, normalized_type FROM oneglobal_webhooks WHERE event_id = :id", id=event_id)
    return [tuple(r) for r in rows]


async def test_wrong_or_missing_basic_auth_is_401_and_nothing_is_stored(esims: EsimStack) -> None:
    event = {"id": "evt_auth_1", "type": "USAGE_THRESHOLD"}
    assert (await esims.http.post(URL, json=event)).status_code == 401
    assert (await esims.webhook(event, auth=(WEBHOOK_USER, "wrong"))).status_code == 401
    assert (await esims.webhook(event, auth=("someone", WEBHOOK_PASSWORD))).status_code == 401
    garbage = await esims.http.post(URL, json=event, headers={"Authorization": "Basic !!!not-base64"})
    assert garbage.status_code == 401
    bearer = await esims.http.post(URL, json=event, headers={"Authorization": f"Bearer {WEBHOOK_PASSWORD}"})
    assert bearer.status_code == 401
    assert await stored(esims, "evt_auth_1") == []


async def test_a_body_over_the_limit_is_413_before_it_is_parsed(esims: EsimStack) -> None:
    limit = esims.settings.esims_webhook_max_bytes
    big = json.dumps({"id": "evt_big", "type": "USAGE_THRESHOLD", "pad": "x" * limit}).encode()
    response = await esims.http.post(
        URL, content=big, headers={"Content-Type": "application/json"}, auth=(WEBHOOK_USER, WEBHOOK_PASSWORD)
    )
    assert response.status_code == 413

    async def chunks():  # no Content-Length: counted while it streams in
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    streamed = await esims.http.post(URL, content=chunks(), auth=(WEBHOOK_USER, WEBHOOK_PASSWORD))
    assert streamed.status_code == 413
    # Not even invalid JSON gets a 400 when it is too big: the size is checked first.
    assert (await esims.webhook(None, content=b"{" * (limit + 1))).status_code == 413
    assert await stored(esims, "evt_big") == []


async def test_bad_json_and_missing_or_non_string_fields_are_400(esims: EsimStack) -> None:
    assert (await esims.webhook(None, content=b"{not json")).status_code == 400
    assert (await esims.webhook([1, 2])).status_code == 400
    assert (await esims.webhook({"type": "USAGE_THRESHOLD"})).status_code == 400
    assert (await esims.webhook({"id": "evt_x"})).status_code == 400
    assert (await esims.webhook({"id": 12, "type": "USAGE_THRESHOLD"})).status_code == 400
    assert (await esims.webhook({"id": "evt_x", "type": ["USAGE_THRESHOLD"]})).status_code == 400
    assert (await esims.webhook({"id": "", "type": "USAGE_THRESHOLD"})).status_code == 400
    assert await stored(esims, "evt_x") == []


async def test_unknown_types_are_stored_and_answered_200_and_types_are_normalised(esims: EsimStack) -> None:
    recorded = metrics.WEBHOOKS_RECEIVED.value(source="1global", outcome="recorded")
    unknown = await esims.webhook({"id": "evt_unknown_1", "type": "Something.New", "data": {"a": 1}})
    assert unknown.status_code == 200 and unknown.json() == {}
    # Counted in the intake metric (GET /metrics), once per accepted delivery.
    assert metrics.WEBHOOKS_RECEIVED.value(source="1global", outcome="recorded") == recorded + 1
    assert await stored(esims, "evt_unknown_1") == [("Something.New", "something_new")]
    for event_id, kind, normal in (
        ("evt_norm_1", "SUBSCRITPION_END", "subscription_end"),
        ("evt_norm_2", "order.completed", "order_completed"),
        ("evt_norm_3", "Download_Progress", "download_progress"),
    ):
        assert (await esims.webhook({"id": event_id, "type": kind})).status_code == 200
        assert await stored(esims, event_id) == [(kind, normal)]


async def test_a_replayed_event_answers_200_and_changes_nothing(esims: EsimStack, consumer: SignedUpConsumer) -> None:
    esim_id = await esims.ordered(consumer)
    ready = await esims.wait_for(consumer, esim_id, "installed")
    event = {
        "id": "evt_replay_1",
        "type": "DOWNLOAD_PROGRESS",
        "iccid": ready["iccid"],
        "download_progress_step": "PROFILE_DELETED",
        "notification_status": "SUCCESS",
    }
    first = await esims.webhook(event)
    assert first.status_code == 200
    await esims.wait_for(consumer, esim_id, "deleted")
    before = await esims.events(esim_id)

    # The same id again, even with another body: stored once, applied once.
    replay = await esims.webhook({**event, "download_progress_step": "BPP_INSTALLATION"})
    assert replay.status_code == 200
    assert await stored(esims, "evt_replay_1") == [("DOWNLOAD_PROGRESS", "download_progress")]
    assert await esims.events(esim_id) == before
    assert (await esims.detail(consumer, esim_id))["status"] == "deleted"


async def test_a_webhook_that_cannot_be_stored_is_500(esims: EsimStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """500 only when storing fails, so 1Global retries."""

    async def broken_store(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(service, "store_webhook", broken_store)
    response = await esims.webhook({"id": "evt_unstored", "type": "USAGE_THRESHOLD"})
    assert response.status_code == 500 and response.json() == {"error": "Processing failed"}
    monkeypatch.undo()
    assert await stored(esims, "evt_unstored") == []


async def test_a_webhook_whose_commit_fails_is_5xx_and_neither_stored_nor_handed_over(
    esims: EsimStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored in the request's transaction: the answer waits for its commit, and the hand-over
    (after-commit work) runs only once the commit succeeded."""
    store = service.store_webhook

    async def store_then_lose_the_database(session: AsyncSession, payload: dict[str, Any]) -> service.StoredWebhook:
        stored = await store(session, payload)

        def lost(_: object) -> None:
            raise ConnectionError("database went away at commit")

        event.listen(session.sync_session, "before_commit", lost, once=True)
        return stored

    handed_over: list[object] = []
    monkeypatch.setattr(service, "store_webhook", store_then_lose_the_database)
    monkeypatch.setattr(service, "dispatch_webhook", lambda *args: handed_over.append(args))
    recorded = metrics.WEBHOOKS_RECEIVED.value(source="1global", outcome="recorded")
    response = await esims.webhook({"id": "evt_commit_lost", "type": "USAGE_THRESHOLD"})
    assert response.status_code >= 500  # 1Global retries
    monkeypatch.undo()
    assert await stored(esims, "evt_commit_lost") == []
    assert handed_over == []
    assert metrics.WEBHOOKS_RECEIVED.value(source="1global", outcome="recorded") == recorded


async def test_a_nul_character_is_refused_with_400_before_storing(esims: EsimStack) -> None:
    """The input guard of every route: a NUL is a client mistake (Postgres cannot store it)."""
    response = await esims.webhook({"id": "evt_nul", "type": "USAGE_THRESHOLD", "note": "a\u0000b"})
    assert response.status_code == 400
    assert await stored(esims, "evt_nul") == []


async def test_a_stored_webhook_never_handed_over_is_signalled_by_the_sweep(
    esims: EsimStack, consumer: SignedUpConsumer, temporal_client: Client
) -> None:
    await esims.behave(consumer.email, install=False)
    esim_id = await esims.ordered(consumer)
    ready = await esims.wait_for(consumer, esim_id, "ready")
    # As if the API process died right after storing the event (and answering 200).
    payload = {
        "id": f"evt_orphan_{esim_id}",
        "type": "DOWNLOAD_PROGRESS",
        "iccid": ready["iccid"],
        "download_progress_step": "BPP_INSTALLATION",
        "notification_status": "SUCCESS",
    }
    async with esims.sessionmaker() as session, session.begin():
        await repository.store_webhook(session, payload["id"], payload["type"], "download_progress", payload)

    result = await temporal_client.execute_workflow(
        EsimWebhookSweepWorkflow.run,
        SweepWebhooks(grace_seconds=0),
        id=f"test-sweep-{uuid.uuid4()}",
        task_queue=esims.settings.temporal_task_queue,
    )
    assert result.signalled >= 1
    await esims.wait_for(consumer, esim_id, "installed")
