"""Mail delivery: SMTP when configured, else the message is logged (development)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import uuid
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from engine.db.base import utcnow
from engine.db.models import MailOutbox
from engine.mail.activities import DELIVER_MAIL
from engine.mail.schemas import DeliverMailInput, DeliverMailResult
from engine.settings import Settings

log = logging.getLogger("covo.mail")


class Mailer:
    """Delivers outbox rows: SMTP when configured, else the message is logged (development)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings

    def _send_smtp(self, message: EmailMessage) -> None:
        s = self.settings
        assert s.smtp_host
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user and s.smtp_password:
                smtp.login(s.smtp_user, s.smtp_password)
            smtp.send_message(message)

    async def deliver(self, outbox_id: uuid.UUID) -> str:
        """Sends the row once. A failed attempt is recorded on the row (the sending transaction
        rolls back with it); the last attempt Temporal will make marks it FAILED, so it does not
        look pending for ever."""
        try:
            return await self._deliver(outbox_id)
        except Exception as exc:
            await self._record_failure(outbox_id, exc)
            raise

    async def _record_failure(self, outbox_id: uuid.UUID, error: Exception) -> None:
        async with self.sessionmaker() as session, session.begin():
            row = await session.get(MailOutbox, outbox_id, with_for_update=True)
            if row is None or row.status == "SENT":
                return
            row.attempts += 1
            row.last_error = f"{type(error).__name__}: {error}"[:2000]
            if _last_attempt():
                row.status = "FAILED"

    async def _deliver(self, outbox_id: uuid.UUID) -> str:
        async with self.sessionmaker() as session, session.begin():
            # The row lock makes concurrent attempts wait; SENT rows are never sent again.
            row = await session.scalar(select(MailOutbox).where(MailOutbox.id == outbox_id).with_for_update())
            if row is None:
                return "MISSING"
            if row.status == "SENT":
                return "SENT"
            row.attempts += 1
            message = EmailMessage()
            message["From"] = self.settings.mail_from
            message["To"] = row.recipient
            message["Subject"] = row.subject
            message.set_content(row.body)
            if self.settings.smtp_host:
                await asyncio.to_thread(self._send_smtp, message)
            else:
                # Not the body: it may carry a reset token, and no log line carries a secret. The
                # body stays readable in mail_outbox.
                log.info("mail (not sent, SMTP_HOST unset) to=%s subject=%s id=%s", row.recipient, row.subject, row.id)
            row.status, row.sent_at = "SENT", utcnow()
        return "SENT"


def _last_attempt() -> bool:
    """Whether Temporal will not retry this activity attempt (its retry policy is used up)."""
    if not activity.in_activity():
        return False
    info = activity.info()
    maximum = info.retry_policy.maximum_attempts if info.retry_policy else 0
    return maximum > 0 and info.attempt >= maximum


class MailActivities:
    """The MailDelivery workflow's activity (mail queued outside workflows, e.g. password resets)."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer

    @activity.defn(name=DELIVER_MAIL)
    async def deliver(self, request: DeliverMailInput) -> DeliverMailResult:
        return DeliverMailResult(status=await self.mailer.deliver(request.outbox_id))
