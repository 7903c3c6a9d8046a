"""The wallet's activity: the ledger write of one adjustment, one Postgres transaction per attempt."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from engine.wallet import service
from engine.wallet.activities import ADJUST
from engine.wallet.schemas import AdjustmentRequest, AdjustmentResult


class WalletActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    @activity.defn(name=ADJUST)
    async def adjust(self, request: AdjustmentRequest) -> AdjustmentResult:
        """Idempotent by the request's key: an attempt after a committed one finds its transaction
        and returns the same result; a failed attempt rolled back entirely. Domain errors reach the
        workflow as ApplicationErrors typed by class name (InsufficientFunds, ...)."""
        async with self.sessionmaker() as session, session.begin():
            return await service.adjust(session, request)
