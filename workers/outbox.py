"""The outbox sweep activity: one batch of stranded rows, handed to the outbox's own `dispatch`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client

from engine.db.models import DomainEventRow, MailOutbox
from engine.events import service as events
from engine.mail import service as mail
from engine.outbox.activities import SWEEP_OUTBOX
from engine.outbox.schemas import OutboxCursor, SweepBatch, SweepBatchResult
from engine.settings import Settings


class OutboxActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, client: Client) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.client = client

    @activity.defn(name=SWEEP_OUTBOX)
    async def sweep(self, request: SweepBatch) -> SweepBatchResult:
        model: type[MailOutbox] | type[DomainEventRow]
        dispatch: Callable[[Client, uuid.UUID, str], Awaitable[None]]
        if request.outbox == "mail":
            # Mail with an idempotency key was queued by a SEND_EMAIL step, which delivers it itself
            # under its definition's retries; sending it from here could contradict that step's outcome.
            model, dispatch = MailOutbox, mail.dispatch
            stranded = [MailOutbox.status == "PENDING", MailOutbox.idempotency_key.is_(None)]
        else:
            model, dispatch = DomainEventRow, events.dispatch
            stranded = [DomainEventRow.dispatched_at.is_(None)]
        query = select(model.created_at, model.id).where(*stranded, model.created_at < request.created_before)
        if request.after is not None:
            query = query.where(tuple_(model.created_at, model.id) > (request.after.created_at, request.after.id))
        async with self.sessionmaker() as session:
            rows = (await session.execute(query.order_by(model.created_at, model.id).limit(request.limit))).all()
        for _, row_id in rows:
            # Idempotent by workflow id: a delivery already started or finished is left alone.
            await dispatch(self.client, row_id, self.settings.temporal_task_queue)
        last = OutboxCursor(created_at=rows[-1][0], id=rows[-1][1]) if len(rows) == request.limit else None
        return SweepBatchResult(handed_in=len(rows), next=last)
