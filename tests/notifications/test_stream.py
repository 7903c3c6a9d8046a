"""GET /events/stream through real HTTP servers (uvicorn): two API apps, each with its own
LISTEN connection, as two API processes would have; a change made through one reaches a
client of the other. Browsers open it with a single-use ticket (`POST
/notifications/stream-ticket`), kept in Postgres so any API process can redeem it once."""

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
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.settings import Settings
from tests.api_server import serve
from tests.conftest import Account, MakeAccount
from tests.workflows.conftest import WorkflowApi, chain, step

WAIT = 20.0  # generous: the machine is shared; no test here measures speed


@contextlib.contextmanager
def quiet_client_log() -> Iterator[None]:
    """For the one request that puts a bearer token in a URL (to see it refused): httpx logs every
    URL it requests, and this test's own client must not write tokens into the log
    (tests/secrets_scan.py reads it). Tickets in URLs are what the design allows."""
    httpx_log = logging.getLogger("httpx")
    level = httpx_log.level
    httpx_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
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


async def ticket_for(base: str, account: Account) -> str:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        response = await client.post(f"{base}/api/notifications/stream-ticket", headers=account.headers)
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"ticket", "expiresAt"}
    return str(response.json()["ticket"])


async def listen(
    base: str, *, ticket: str | None = None, headers: dict[str, str] | None = None, resume_after: int | None = None
) -> Stream:
    stream = Stream()
    opened = asyncio.Event()

    async def read() -> None:
        params = {"ticket": ticket} if ticket else {}
        if resume_after is not None:
            params["lastEventID"] = str(resume_after)
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
    async with httpx.AsyncClient(timeout=WAIT) as client:
        response = await client.post(
            f"{base}/api/notifications",
            json={"type": "memo", "title": title, "recipientUserId": str(recipient.user_id)},
            headers=sender.headers,
        )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_notification_made_through_one_api_reaches_only_its_user_on_another(
    servers: tuple[str, str], admin: Account, make_account: MakeAccount
) -> None:
    """A ticket names one user of one tenant: another user's or another tenant's events never reach it."""
    first, second = servers
    alice = await make_account("employee", tenant_id=admin.tenant_id)
    bob = await make_account("employee", tenant_id=admin.tenant_id)
    other_admin = await make_account("admin")
    stranger = await make_account("employee", tenant_id=other_admin.tenant_id)
    # The ticket is issued by one API process and redeemed by the other.
    alice_stream = await listen(second, ticket=await ticket_for(first, alice))
    bob_stream = await listen(second, headers=bob.headers)
    assert (alice_stream.status, bob_stream.status) == (200, 200)
    try:
        await notify(first, other_admin, stranger, "For the stranger")
        note_id = await notify(first, admin, alice, "Hello")
        frame = await alice_stream.next("notification")  # the stranger's came first and is not here
        assert frame["data"]["id"] == note_id and frame["data"]["title"] == "Hello" and frame["id"] > 0
        await asyncio.sleep(1)  # bob's stream stays quiet but alive; nothing more for alice
        assert bob_stream.frames.empty() and bob_stream.heartbeats > 0
        assert alice_stream.frames.empty()
    finally:
        await alice_stream.close()
        await bob_stream.close()


async def test_task_changes_reach_the_queue_and_resume_after_a_reconnect(
    servers: tuple[str, str], client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    first, second = servers
    member = await make_account("employee", tenant_id=admin.tenant_id)
    foreign = await make_account("employee")
    member_stream = await listen(first, ticket=await ticket_for(first, member))
    foreign_stream = await listen(first, ticket=await ticket_for(second, foreign))
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

    # While the member is away: a claim and a notification. Reconnecting with a new ticket and
    # `?lastEventID=` (as the inbox page does; `Last-Event-ID` is the header form) to the other
    # API brings both, in order.
    [task] = await wf.wait_task(instance["id"])
    assert (await wf.post(f"/api/workflows/tasks/{task['id']}/claim")).status_code == 200
    await notify(second, admin, member, "While you were away")
    resumed = await listen(second, ticket=await ticket_for(first, member), resume_after=created["id"])
    try:
        claimed = await resumed.next("task")
        assert claimed["data"]["eventType"] == "USER_TASK_STARTED" and claimed["data"]["claimedBy"] == str(
            admin.user_id
        )
        missed = await resumed.next("notification")
        assert missed["data"]["title"] == "While you were away" and missed["id"] > claimed["id"] > created["id"]
    finally:
        await resumed.close()


async def test_the_stream_needs_a_credential_and_takes_no_token_in_the_url(
    servers: tuple[str, str], admin: Account
) -> None:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        assert (await client.get(f"{servers[0]}/api/events/stream")).status_code == 401
        assert (await client.get(f"{servers[0]}/api/events/stream", params={"ticket": "nope"})).status_code == 401
        with quiet_client_log():  # a valid access token in the URL is not a credential any more
            response = await client.get(f"{servers[0]}/api/events/stream", params={"token": admin.token})
        assert response.status_code == 401


async def test_a_ticket_opens_the_stream_once(servers: tuple[str, str], admin: Account) -> None:
    first, second = servers
    ticket = await ticket_for(first, admin)
    opened = await listen(first, ticket=ticket)
    try:
        assert opened.status == 200
        again = await listen(second, ticket=ticket)  # on another API process too
        assert again.status == 401
        await again.close()
    finally:
        await opened.close()

    # Two clients racing with one ticket: exactly one stream opens.
    racing = await ticket_for(second, admin)
    streams = await asyncio.gather(listen(first, ticket=racing), listen(second, ticket=racing))
    try:
        assert sorted(s.status or 0 for s in streams) == [200, 401]
    finally:
        for each in streams:
            await each.close()


async def test_an_expired_ticket_is_401(
    servers: tuple[str, str], make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    user = await make_account("employee")
    ticket = await ticket_for(servers[0], user)
    async with sessionmaker() as session, session.begin():  # as if 30 seconds had passed
        await session.execute(
            text("UPDATE stream_tickets SET expires_at = now() - interval '1 second' WHERE user_id = :u"),
            {"u": user.user_id},
        )
    expired = await listen(servers[1], ticket=ticket)
    assert expired.status == 401
    await expired.close()


async def test_a_ticket_of_a_signed_out_session_or_an_api_key_opens_nothing(
    servers: tuple[str, str], make_account: MakeAccount, admin: Account
) -> None:
    user = await make_account("employee")
    ticket = await ticket_for(servers[0], user)
    async with httpx.AsyncClient(timeout=WAIT) as client:
        assert (await client.post(f"{servers[0]}/api/auth/logout", headers=user.headers)).status_code == 201
        signed_out = await listen(servers[0], ticket=ticket)
        assert signed_out.status == 401
        await signed_out.close()

        key = await client.post(f"{servers[0]}/api/api_keys/keys", json={"name": "stream"}, headers=admin.headers)
        assert key.status_code in (200, 201), key.text
        refused = await client.post(
            f"{servers[0]}/api/notifications/stream-ticket", headers={"X-Api-Key": key.json()["secret"]}
        )
        assert refused.status_code == 400 and "API key" in refused.json()["error"]
