"""The live stream behind `GET /events/stream`: one Postgres LISTEN connection per API process
fans out to every connected client of that process.

Writers never call this: database triggers put each new notification and each task or
instance event in `live_events` (in the writer's own transaction) and `pg_notify` its id on
commit, so an event written by a worker, or through another API process, reaches every process.
The hub fetches each announced row once (not once per client) and hands it to the subscribers
allowed to see it. Rows stay for a while so a client that reconnects with `Last-Event-ID` gets
what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

log = logging.getLogger("covo.live")

CHANNEL = "covo_live"
RETENTION_SECONDS = 3600
_ROW = "SELECT id, tenant_id, kind, user_id, payload::text AS payload FROM live_events"


@dataclass(frozen=True)
class LiveEvent:
    id: int
    tenant_id: uuid.UUID
    kind: str
    user_id: uuid.UUID | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Viewer:
    tenant_id: uuid.UUID
    user_id: str
    roles: frozenset[str]
    manager: bool  # workflows.tasks.manage: sees every task of the tenant

    def sees(self, event: LiveEvent) -> bool:
        if event.tenant_id != self.tenant_id:
            return False
        data = event.payload
        if event.kind == "notification":
            return str(event.user_id) == self.user_id
        if event.kind == "task":
            roles = data.get("assignedToRoles") or []
            return (
                self.manager
                or self.user_id in (data.get("assignedTo"), data.get("claimedBy"))
                or bool(self.roles & set(roles if isinstance(roles, list) else []))
            )
        if event.kind == "instance":
            return data.get("initiatedBy") == self.user_id
        return False


@dataclass(eq=False)
class Subscriber:
    viewer: Viewer
    queue: asyncio.Queue[LiveEvent | None] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))


def _event(row: Any) -> LiveEvent:
    return LiveEvent(row["id"], row["tenant_id"], row["kind"], row["user_id"], json.loads(row["payload"]))


def asyncpg_dsn(database_url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix) :]
    return database_url


class LiveHub:
    def __init__(self, database_url: str) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.conn: Any = None
        self.subscribers: set[Subscriber] = set()
        self._pending: list[int] = []
        self._drainer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one query at a time on the connection
        self._starting = asyncio.Lock()
        self._last_cleanup = 0.0

    async def start(self) -> None:
        async with self._starting:
            if self.conn is not None and not self.conn.is_closed():
                return
            self.conn = await asyncpg.connect(self.dsn)
            self.conn.add_termination_listener(self._lost)
            await self.conn.add_listener(CHANNEL, self._notified)

    async def close(self) -> None:
        self._end_all()
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.close()
            self.conn = None

    def subscribe(self, viewer: Viewer) -> Subscriber:
        subscriber = Subscriber(viewer)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def since(self, tenant_id: uuid.UUID, after_id: int, window_seconds: int) -> list[LiveEvent]:
        """The tenant's events after `after_id` within the resume window, oldest first."""
        query = (
            f"{_ROW} WHERE tenant_id = $1 AND id > $2 AND created_at > now() - make_interval(secs => $3)"
            " ORDER BY id LIMIT 10000"
        )
        async with self._lock:
            rows = await self.conn.fetch(query, tenant_id, after_id, float(window_seconds))
        return [_event(r) for r in rows]

    # ---------------------------------------------------------------- internals

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self._pending.append(int(payload))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._pending:
            ids, self._pending = self._pending, []
            try:
                async with self._lock:
                    rows = await self.conn.fetch(f"{_ROW} WHERE id = ANY($1::bigint[]) ORDER BY id", ids)
                    await self._cleanup()
            except Exception:
                log.exception("live stream: could not read events %s", ids)
                continue
            self._deliver(_event(r) for r in rows)

    def _deliver(self, events: Iterable[LiveEvent]) -> None:
        for event in events:
            for subscriber in list(self.subscribers):
                if subscriber.viewer.sees(event):
                    try:
                        subscriber.queue.put_nowait(event)
                    except asyncio.QueueFull:  # a client that stopped reading: it reconnects and resumes
                        self._end(subscriber)

    async def _cleanup(self) -> None:
        if time.monotonic() - self._last_cleanup < 300:
            return
        self._last_cleanup = time.monotonic()
        await self.conn.execute(
            "DELETE FROM live_events WHERE created_at < now() - make_interval(secs => $1)", float(RETENTION_SECONDS)
        )

    def _end(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        with contextlib.suppress(asyncio.QueueFull):
            subscriber.queue.put_nowait(None)

    def _end_all(self) -> None:
        for subscriber in list(self.subscribers):
            self._end(subscriber)

    def _lost(self, _conn: Any) -> None:
        # Clients reconnect with Last-Event-ID and get what they missed; the next one reconnects us.
        log.warning("live stream: LISTEN connection lost")
        self.conn = None
        self._end_all()
