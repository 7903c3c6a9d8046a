from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from engine.outbox.activities import SWEEP_OUTBOX
from engine.outbox.schemas import (
    OUTBOXES,
    Outbox,
    OutboxCursor,
    SweepBatch,
    SweepBatchResult,
    SweepOutboxes,
    SweepResult,
)


@workflow.defn(name="OutboxSweep")
class OutboxSweepWorkflow:
    """Hands mail and domain events whose hand-off to Temporal was lost (Temporal briefly down,
    process killed between commit and start) to their delivery workflows. Started every minute by
    a schedule (engine/outbox/service.py); re-handing a row in is a no-op because the delivery
    workflow ids come from the row ids."""

    @workflow.run
    async def run(self, request: SweepOutboxes) -> SweepResult:
        # Fixed once per sweep, so paging ends even while new rows keep arriving.
        created_before = workflow.now() - timedelta(seconds=request.grace_seconds)
        counts: dict[Outbox, int] = dict.fromkeys(OUTBOXES, 0)
        for outbox in OUTBOXES:
            after: OutboxCursor | None = None
            while True:
                batch: SweepBatchResult = await workflow.execute_activity(
                    SWEEP_OUTBOX,
                    SweepBatch(outbox=outbox, created_before=created_before, limit=request.batch_size, after=after),
                    result_type=SweepBatchResult,
                    start_to_close_timeout=timedelta(minutes=5),
                )
                counts[outbox] += batch.handed_in
                if batch.next is None:
                    break
                after = batch.next
        return SweepResult(mail=counts["mail"], events=counts["events"])
