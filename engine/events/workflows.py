from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from engine.events.activities import DISPATCH_EVENT
from engine.events.schemas import DispatchEvent, DispatchResult


@workflow.defn(name="DomainEventDispatch")
class DomainEventDispatchWorkflow:
    """Delivers one stored domain event to its subscribers (workflow triggers, business rules).
    The workflow id is `event-<id>`, so an event is dispatched once however often it is handed in."""

    @workflow.run
    async def run(self, request: DispatchEvent) -> DispatchResult:
        result: DispatchResult = await workflow.execute_activity(
            DISPATCH_EVENT,
            request,
            result_type=DispatchResult,
            start_to_close_timeout=timedelta(seconds=120),
            retry_policy=RetryPolicy(maximum_attempts=20, maximum_interval=timedelta(minutes=5)),
        )
        return result
