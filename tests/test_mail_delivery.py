"""Mail delivery attempts: a failure is recorded on the outbox row, and the attempt after which
Temporal gives up marks the row FAILED instead of leaving it pending for ever."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.common import RetryPolicy
from temporalio.testing import ActivityEnvironment

from engine.db.models import MailOutbox
from engine.devstack import free_port
from engine.mail import service as mail
from engine.mail.schemas import DeliverMailInput
from engine.settings import Settings
from workers.mail import MailActivities, Mailer


async def _queued(sessionmaker: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    async with sessionmaker() as session, session.begin():
        row = await mail.enqueue(session, recipient="a@covo.test", subject="Hi", body="Hello", tenant_id=None)
        return row.id


def _attempt(number: int, of: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=number, retry_policy=RetryPolicy(maximum_attempts=of))
    return env


async def test_failed_attempts_are_recorded_and_the_last_one_marks_the_mail_failed(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    unreachable = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": free_port()})
    deliver = MailActivities(Mailer(sessionmaker, unreachable)).deliver
    outbox_id = await _queued(sessionmaker)

    with pytest.raises(OSError):
        await _attempt(1, of=2).run(deliver, DeliverMailInput(outbox_id=outbox_id))
    async with sessionmaker() as session:
        row = await session.get(MailOutbox, outbox_id)
        assert row is not None
        assert (row.status, row.attempts) == ("PENDING", 1)
        assert row.last_error and "ConnectionRefusedError" in row.last_error

    with pytest.raises(OSError):
        await _attempt(2, of=2).run(deliver, DeliverMailInput(outbox_id=outbox_id))
    async with sessionmaker() as session:
        row = await session.get(MailOutbox, outbox_id)
        assert row is not None
        assert (row.status, row.attempts, row.sent_at) == ("FAILED", 2, None)


async def test_a_sent_mail_is_not_sent_again(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    deliver = MailActivities(Mailer(sessionmaker, settings)).deliver  # no SMTP host: logged
    outbox_id = await _queued(sessionmaker)
    assert (await _attempt(1, of=3).run(deliver, DeliverMailInput(outbox_id=outbox_id))).status == "SENT"
    assert (await _attempt(2, of=3).run(deliver, DeliverMailInput(outbox_id=outbox_id))).status == "SENT"
    async with sessionmaker() as session:
        row = await session.get(MailOutbox, outbox_id)
        assert row is not None
        assert (row.status, row.attempts) == ("SENT", 1)
