from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from engine.mail.activities import DELIVER_MAIL
from engine.mail.schemas import DeliverMailInput, DeliverMailResult


@workflow.defn(name="MailDelivery")
class MailDeliveryWorkflow:
    """Delivers one outbox row. The workflow id is `mail-<outbox id>` and the activity marks the row
    SENT in the same step that sends it, so neither a double start nor a retry sends twice."""

    @workflow.run
    async def run(self, request: DeliverMailInput) -> DeliverMailResult:
        result: DeliverMailResult = await workflow.execute_activity(
            DELIVER_MAIL,
            request,
            result_type=DeliverMailResult,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=10, maximum_interval=timedelta(minutes=10)),
        )
        return result
