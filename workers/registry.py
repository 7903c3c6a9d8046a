"""Every workflow class and activity the worker runs, in one place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.mail.workflows import MailDeliveryWorkflow
from engine.settings import Settings
from workers.mail import MailActivities

WORKFLOWS: Sequence[type] = (MailDeliveryWorkflow,)


def build_activities(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> list[Callable[..., Any]]:
    mail = MailActivities(sessionmaker, settings)
    return [mail.deliver]
