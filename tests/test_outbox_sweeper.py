"""The outbox sweeper: mail and domain events whose hand-off to Temporal was lost after commit
(the rows a failed `dispatch` leaves behind) are delivered by the scheduled OutboxSweep."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleHandle, ScheduleOverlapPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from engine.db.models import DomainEventRow, MailOutbox
from engine.mail.workflows import MailDeliveryWorkflow
from engine.outbox.schemas import OUTBOXES, Outbox, OutboxCursor, SweepBatch
from engine.outbox.service import ensure_sweep_schedule
from engine.settings import Settings
from engine.temporal.ids import mail_delivery_id
from workers.outbox import OutboxActivities

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def schedule(temporal_client: Client, settings: Settings, worker: Worker) -> AsyncIterator[ScheduleHandle]:
    handle = await ensure_sweep_schedule(temporal_client, settings.temporal_task_queue)
    yield handle
    # Left running, it would sweep the rows later tests leave PENDING on purpose.
    await handle.delete()


async def strand(sessionmaker: Sessions, created_at: datetime | None = None) -> tuple[uuid.UUID, uuid.UUID]:
    """A committed mail row and event row that nobody handed to Temporal."""
    mail = MailOutbox(id=uuid.uuid4(), recipient="stranded@covo.test", subject="Hello", body="Stranded")
    event = DomainEventRow(id=uuid.uuid4(), tenant_id=uuid.uuid4(), name="outbox.test.stranded", payload={})
    if created_at is not None:
        mail.created_at = event.created_at = created_at
    async with sessionmaker() as session, session.begin():
        session.add_all([mail, event])
    return mail.id, event.id


async def delivered(
    sessionmaker: Sessions, mail_id: uuid.UUID, event_id: uuid.UUID
) -> tuple[MailOutbox, DomainEventRow]:
    deadline = time.monotonic() + 30
    while True:
        async with sessionmaker() as session:
            mail = await session.get(MailOutbox, mail_id)
            event = await session.get(DomainEventRow, event_id)
        assert mail is not None and event is not None
        if mail.status == "SENT" and event.dispatched_at is not None:
            return mail, event
        assert time.monotonic() < deadline, f"not delivered: mail {mail.status}, event {event.dispatched_at}"
        await asyncio.sleep(0.2)


async def started(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def long_ago() -> datetime:
    """A moment only this test's rows share, so a sweep over a narrow window sees nothing else."""
    return datetime(2001, 1, 1, tzinfo=UTC) + timedelta(minutes=uuid.uuid4().int % 10_000_000)


def only_at(at: datetime, outbox: Outbox, limit: int = 500) -> SweepBatch:
    """A sweep batch over the rows created at `at` (see `long_ago`)."""
    after = OutboxCursor(created_at=at, id=uuid.UUID(int=0))
    return SweepBatch(outbox=outbox, created_before=at + timedelta(seconds=1), limit=limit, after=after)


async def test_the_scheduled_sweep_delivers_stranded_mail_and_events_but_not_recent_ones(
    schedule: ScheduleHandle, temporal_client: Client, sessionmaker: Sessions
) -> None:
    old_mail, old_event = await strand(sessionmaker, datetime.now(UTC) - timedelta(minutes=10))
    young_mail, young_event = await strand(sessionmaker)

    # ALLOW_ALL: a sweep the schedule started on its own just now must not swallow this one.
    await schedule.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    mail, _ = await delivered(sessionmaker, old_mail, old_event)
    assert mail.attempts == 1

    # The default grace period leaves rows whose own hand-off may still be under way.
    async with sessionmaker() as session:
        young = await session.get(MailOutbox, young_mail)
        young_event_row = await session.get(DomainEventRow, young_event)
    assert young is not None and young.status == "PENDING"
    assert young_event_row is not None and young_event_row.dispatched_at is None
    assert not await started(temporal_client, mail_delivery_id(young_mail))
    assert not await started(temporal_client, f"event-{young_event}")


async def test_a_second_sweep_hands_in_nothing_already_delivered(
    settings: Settings, temporal_client: Client, sessionmaker: Sessions, worker: Worker
) -> None:
    at = long_ago()
    mail_id, event_id = await strand(sessionmaker, at)
    sweep = OutboxActivities(sessionmaker, settings, temporal_client).sweep

    first = [await sweep(only_at(at, outbox)) for outbox in OUTBOXES]
    assert [batch.handed_in for batch in first] == [1, 1]
    mail, event = await delivered(sessionmaker, mail_id, event_id)

    second = [await sweep(only_at(at, outbox)) for outbox in OUTBOXES]
    assert [batch.handed_in for batch in second] == [0, 0]
    again, event_again = await delivered(sessionmaker, mail_id, event_id)
    assert (again.attempts, again.sent_at) == (1, mail.sent_at)
    assert event_again.dispatched_at == event.dispatched_at


async def test_a_backlog_larger_than_one_batch_is_swept_completely(
    settings: Settings, temporal_client: Client, sessionmaker: Sessions, worker: Worker
) -> None:
    at = long_ago()
    rows = [await strand(sessionmaker, at) for _ in range(3)]
    sweep = OutboxActivities(sessionmaker, settings, temporal_client).sweep

    request = only_at(at, "mail", limit=2)
    handed_in: list[int] = []
    while True:
        batch = await sweep(request)
        handed_in.append(batch.handed_in)
        if batch.next is None:
            break
        request = request.model_copy(update={"after": batch.next})
    assert handed_in == [2, 1]
    for mail_id, _ in rows:
        handle = temporal_client.get_workflow_handle_for(MailDeliveryWorkflow.run, mail_delivery_id(mail_id))
        assert (await asyncio.wait_for(handle.result(), timeout=30)).status == "SENT"


async def test_ensuring_the_schedule_again_keeps_one_schedule_and_an_operators_pause(
    schedule: ScheduleHandle, temporal_client: Client, settings: Settings
) -> None:
    await schedule.pause(note="maintenance")
    again = await ensure_sweep_schedule(temporal_client, settings.temporal_task_queue)
    await ensure_sweep_schedule(temporal_client, settings.temporal_task_queue)

    assert again.id == schedule.id
    assert settings.temporal_task_queue in schedule.id
    described = await schedule.describe()
    assert described.schedule.state.paused
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("OutboxSweep", settings.temporal_task_queue)
    assert [spec.every for spec in described.schedule.spec.intervals] == [timedelta(minutes=1)]
