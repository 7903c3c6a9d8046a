"""GET /events/stream through real HTTP servers (uvicorn): two API apps, each with its own
LISTEN connection, as two API processes would have; a change made through one reaches a
client of the other."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from engine.settings import Settings
from tests.api_server import serve
from tests.conftest import Account, MakeAccount
from tests.workflows.conftest import WorkflowApi, chain, step

WAIT = 20.0  # generous: the machine is shared; no test here measures speed


@pytest.fixture(autouse=True)
def quiet_client_log() -> Iterator[None]:
    """The `?token=` form puts the token in the URL, and httpx logs every URL it requests: this
    test's own client must not write tokens into the log (tests/secrets_scan.py reads it)."""
    httpx_log = logging.getLogger("httpx")
    level = httpx_log.level
    httpx_log.setLevel(logging.WARNING)
    yield
    httpx_log.setLevel(level)


@pytest.fixture
async def servers(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    quick = settings.model_copy(update={"events_heartbeat_seconds": 0.3})
    async for first in serve(quick):
        async for second in serve(quick):
            yield first, second


@dataclass
class Stream:
    frames: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    heartbeats: int = 0
    status: int | None = None
    task: asyncio.Task[None] | None = None

    async def next(self, kind: str | None = None) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            while True:
                item = await self.frames.get()
                if kind is None or item["event"] == kind:
                    return item

    async def close(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def listen(base: str, *, token: str | None = None, headers: dict[str, str] | None = None) -> Stream:
    stream = Stream()
    opened = asyncio.Event()

    async def read() -> None:
        params = {"token": token} if token else None
        async with (
            httpx.AsyncClient(timeout=None) as client,
            client.stream("GET", f"{base}/api/events/stream", params=params, headers=headers) as response,
        ):
            stream.status = response.status_code
            opened.set()
            frame: dict[str, Any] = {}
            async for line in response.aiter_lines():
                if line.startswith(": heartbeat"):
                    stream.heartbeats += 1
                elif line.startswith("id: "):
                    frame["id"] = int(line[4:])
                elif line.startswith("event: "):
                    frame["event"] = line[7:]
                elif line.startswith("data: "):
                    frame["data"] = json.loads(line[6:])
                elif line == "" and "event" in frame:
                    await stream.frames.put(frame)
                    frame = {}

    stream.task = asyncio.create_task(read())
    async with asyncio.timeout(WAIT):
        await opened.wait()
    return stream


async def notify(base: str, sender: Account, recipient: Account, title: str) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{base}/api/notifications",
            json={"type": "memo", "title": title, "recipientUserId": str(recipient.user_id)},
            headers=sender.headers,
        )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_notification_made_through_one_api_reaches_a_client_of_another(
    servers: tuple[str, str], admin: Account, make_account: MakeAccount
) -> None:
    first, second = servers
    alice = await make_account("employee", tenant_id=admin.tenant_id)
    bob = await make_account("employee", tenant_id=admin.tenant_id)
    alice_stream = await listen(second, token=alice.token)
    bob_stream = await listen(second, headers=bob.headers)
    assert (alice_stream.status, bob_stream.status) == (200, 200)
    try:
        note_id = await notify(first, admin, alice, "Hello")
        frame = await alice_stream.next("notification")
        assert frame["data"]["id"] == note_id and frame["data"]["title"] == "Hello" and frame["id"] > 0
        await asyncio.sleep(1)  # bob's stream stays quiet but alive
        assert bob_stream.frames.empty() and bob_stream.heartbeats > 0
    finally:
        await alice_stream.close()
        await bob_stream.close()


async def test_task_changes_reach_the_queue_and_resume_after_a_reconnect(
    servers: tuple[str, str], client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    first, second = servers
    member = await make_account("employee", tenant_id=admin.tenant_id)
    foreign = await make_account("employee")
    member_stream = await listen(first, token=member.token)
    foreign_stream = await listen(first, token=foreign.token)
    wf = WorkflowApi(client, admin)
    try:
        _, instance = await wf.run(
            chain("live", step("review", "USER_TASK", userTaskConfig={"assignedTo": ["employee"]}))
        )
        created = await member_stream.next("task")
        assert created["data"]["eventType"] == "USER_TASK_CREATED"
        assert created["data"]["instanceId"] == instance["id"] and created["data"]["status"] == "PENDING"
        assert foreign_stream.frames.empty()
    finally:
        await member_stream.close()
        await foreign_stream.close()

    # While the member is away: a claim and a notification. Reconnecting with Last-Event-ID
    # (to the other API) brings both, in order.
    [task] = await wf.wait_task(instance["id"])
    assert (await wf.post(f"/api/workflows/tasks/{task['id']}/claim")).status_code == 200
    await notify(second, admin, member, "While you were away")
    resumed = await listen(second, token=member.token, headers={"Last-Event-ID": str(created["id"])})
    try:
        claimed = await resumed.next("task")
        assert claimed["data"]["eventType"] == "USER_TASK_STARTED" and claimed["data"]["claimedBy"] == str(
            admin.user_id
        )
        missed = await resumed.next("notification")
        assert missed["data"]["title"] == "While you were away" and missed["id"] > claimed["id"] > created["id"]
    finally:
        await resumed.close()


async def test_the_stream_needs_a_credential(servers: tuple[str, str]) -> None:
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{servers[0]}/api/events/stream")).status_code == 401
        assert (await client.get(f"{servers[0]}/api/events/stream", params={"token": "nope"})).status_code == 401
