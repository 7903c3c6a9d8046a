from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from engine.wallet.activities import ADJUST
from engine.wallet.schemas import AdjustmentRequest, AdjustmentResult

# Errors the ledger raises that retrying cannot fix; the workflow fails with them and the API
# turns them back into their status codes.
NON_RETRYABLE = ["InsufficientFunds", "WalletNotFound", "IdempotencyKeyReused"]


@workflow.defn(name="WalletAdjustment")
class WalletAdjustmentWorkflow:
    """One manual adjustment, id `wallet-adj-<tenant>-<idempotency key>`: Temporal deduplicates a
    retried request while this runs; the ledger write is one Postgres transaction in one (local)
    activity, idempotent by the same key, so a worker killed mid-write re-runs it at most once in
    effect (the first attempt's transaction either committed, and is found, or rolled back)."""

    @workflow.run
    async def run(self, request: AdjustmentRequest) -> AdjustmentResult:
        result: AdjustmentResult = await workflow.execute_local_activity(
            ADJUST,
            request,
            result_type=AdjustmentResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(
                maximum_attempts=20,
                maximum_interval=timedelta(seconds=10),
                non_retryable_error_types=NON_RETRYABLE,
            ),
        )
        return result
