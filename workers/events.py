"""Dispatching stored domain events to their subscribers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client

from engine.db.base import utcnow
from engine.db.models import DomainEventRow
from engine.events.activities import DISPATCH_EVENT
from engine.events.schemas import DispatchEvent, DispatchResult
from engine.settings import Settings


class EventActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, client: Client) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.client = client

    @activity.defn(name=DISPATCH_EVENT)
    async def dispatch(self, request: DispatchEvent) -> DispatchResult:
        async with self.sessionmaker() as session, session.begin():
            event = await session.get(DomainEventRow, request.event_id)
            if event is None:
                return DispatchResult()
            event.dispatched_at = utcnow()
        return DispatchResult(handled={})
