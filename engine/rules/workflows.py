"""The CALL_WEBHOOK rule action as a Temporal workflow: one activity with retries. The workflow id
(`rule-webhook-<uuid>`, chosen when the action ran) is also the request's idempotency key, sent as
the `Idempotency-Key` header so receivers can de-duplicate retried deliveries."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from engine.rules.activities import CALL_WEBHOOK
from engine.rules.schemas import WebhookRequest, WebhookResult

WEBHOOK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
    non_retryable_error_types=["ActivityConfigError", "NonRetryable"],
)


@workflow.defn(name="RuleWebhook")
class RuleWebhookWorkflow:
    @workflow.run
    async def run(self, request: WebhookRequest) -> WebhookResult:
        result: WebhookResult = await workflow.execute_activity(
            CALL_WEBHOOK,
            request,
            result_type=WebhookResult,
            start_to_close_timeout=timedelta(seconds=45),
            retry_policy=WEBHOOK_RETRY,
        )
        return result
