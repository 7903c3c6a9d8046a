"""`GET /events/stream`: server-sent events for the caller, fed by Postgres LISTEN/NOTIFY
(engine.notifications.live), so it works with any number of API processes and no client polls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Res, Resources, Session, credential, principal_of
from engine.auth.schemas import Principal
from engine.errors import Unauthorized
from engine.notifications import service as notifications
from engine.notifications.live import LiveEvent, LiveHub, Viewer
from engine.workflows.tasks import MANAGE_FEATURE

router = APIRouter(tags=["Events"])

INBOX_PAGE = Path(__file__).parent / "static" / "inbox"  # served at /inbox by api.app


async def hub_of(app: FastAPI, database_url: str) -> LiveHub:
    """One hub (one LISTEN connection) per API process, started by the first stream."""
    hub: LiveHub | None = getattr(app.state, "live_hub", None)
    if hub is None:
        hub = app.state.live_hub = LiveHub(database_url)
    await hub.start()
    return hub


async def close_hub(app: FastAPI) -> None:
    hub: LiveHub | None = getattr(app.state, "live_hub", None)
    if hub is not None:
        await hub.close()


def frame(event: LiveEvent) -> str:
    data = json.dumps({"id": event.id, "kind": event.kind, **event.payload}, separators=(",", ":"), default=str)
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"


async def _principal(request: Request, session: AsyncSession, res: Resources, ticket: str | None) -> Principal:
    """A `?ticket=` (single use: redeeming deletes it, committed before the stream starts), else the
    Authorization header or the `auth_token` cookie. Bearer tokens are not taken from the URL:
    proxies log URLs."""
    if ticket:
        principal = await notifications.redeem_stream_ticket(session, ticket)
    else:
        principal = await principal_of(session, credential(request), res)
    if principal is None:
        raise Unauthorized("Unauthorized")
    return principal


@router.get(
    "/events/stream",
    summary="Live events (server-sent events)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "An endless event stream"},
        401: {"description": "No valid credential; or the ticket is unknown, used or expired"},
    },
)
async def stream(
    request: Request,
    session: Session,
    res: Res,
    ticket: Annotated[
        str | None,
        Query(description="A ticket from `POST /notifications/stream-ticket`, for clients that cannot set headers"),
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    # Spelt as the header (and as Mercure hubs spell this parameter): a position, not an object id.
    last_event_id_query: Annotated[
        str | None, Query(alias="lastEventID", description="As `Last-Event-ID`, for a client that reconnects itself")
    ] = None,
) -> StreamingResponse:
    """For the caller, as they happen: new notifications (`event: notification`), changes to the
    tasks they can see (`event: task`: created, claimed, released, reassigned, escalated,
    completed...) and to instances they started (`event: instance`). Each event has an `id`; a
    client reconnecting with `Last-Event-ID` (or `?lastEventID=`) first gets what it missed within
    `EVENTS_RESUME_WINDOW_SECONDS`. A `: heartbeat` comment line is sent every
    `EVENTS_HEARTBEAT_SECONDS`. Authenticate with `Authorization: Bearer ...` (or the `auth_token`
    cookie), or with `?ticket=` from `POST /notifications/stream-ticket` (single use, 30 seconds):
    a ticket does not survive the browser's own reconnect, so such a client asks for a new ticket
    and passes `lastEventID`. The session dependency commits (and frees its connection) before the
    stream starts; the stream itself holds no database session."""
    principal = await _principal(request, session, res, ticket)
    viewer = Viewer(
        principal.tenant_id, str(principal.id), frozenset(principal.role_names), principal.can(MANAGE_FEATURE)
    )
    assert res.settings.database_url
    hub = await hub_of(request.app, res.settings.database_url)
    subscriber = hub.subscribe(viewer)  # before the backlog query, so nothing falls in between
    resume = last_event_id or last_event_id_query
    resume_from = int(resume) if resume and resume.isdigit() else None
    heartbeat = res.settings.events_heartbeat_seconds

    async def events() -> AsyncIterator[str]:
        sent: set[int] = set()
        try:
            yield "retry: 2000\n: connected\n\n"
            if resume_from is not None:
                for event in await hub.since(viewer.tenant_id, resume_from, res.settings.events_resume_window_seconds):
                    if viewer.sees(event):
                        sent.add(event.id)
                        yield frame(event)
            while True:
                try:
                    live = await asyncio.wait_for(subscriber.queue.get(), heartbeat)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if live is None:
                    return  # the hub lost its connection: the client reconnects and resumes
                if live.id not in sent:
                    yield frame(live)
        finally:
            hub.unsubscribe(subscriber)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
