from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

from engine.scheduler.activities import BEGIN_RUN, FINISH_RUN, RUN_TARGET
from engine.scheduler.schemas import BeginResult, BeginRun, FinishRun, RunJob, RunOutcome, RunTarget, TargetResult

# Set by Temporal on every workflow a schedule starts.
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
BOOKKEEPING = timedelta(seconds=30)
TARGET_TIMEOUT = timedelta(hours=1)


def run_key(job_id: uuid.UUID, scheduled_at: datetime) -> str:
    return f"{job_id}:{scheduled_at.isoformat()}"


def run_id_for(key: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"covo:scheduler:run:{key}")


@workflow.defn(name="ScheduledJobRun")
class ScheduledJobRunWorkflow:
    """One execution of a scheduled job: records the run (or why it was skipped), runs the target
    as an activity with the job's retry policy and records the outcome. The idempotency key is the
    job id + scheduled time, so a retried firing finds its own row and never runs the target twice."""

    @workflow.run
    async def run(self, request: RunJob) -> RunOutcome:
        scheduled_at: datetime | None = None
        if request.trigger == "scheduled":
            scheduled_at = workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
            key = run_key(request.job_id, scheduled_at)
            run_id = run_id_for(key)
        else:
            assert request.run_id is not None
            key, run_id = f"{request.job_id}:manual:{request.run_id}", request.run_id
        # Bookkeeping runs as local activities (short DB writes in the worker, no task round trip
        # through the server): a firing costs one workflow task and one activity task.
        begin: BeginResult = await workflow.execute_local_activity(
            BEGIN_RUN,
            BeginRun(
                job_id=request.job_id,
                run_id=run_id,
                idempotency_key=key,
                workflow_id=workflow.info().workflow_id,
                trigger=request.trigger,
                triggered_by=request.triggered_by,
                scheduled_at=scheduled_at,
                started_at=workflow.now(),
            ),
            result_type=BeginResult,
            start_to_close_timeout=BOOKKEEPING,
        )
        if begin.action != "run":
            return RunOutcome(run_id=run_id, status=begin.action)
        if begin.finished:
            return RunOutcome(run_id=run_id, status="completed")
        finish = FinishRun(run_id=run_id, status="completed", finished_at=workflow.now())
        try:
            done: TargetResult = await workflow.execute_activity(
                RUN_TARGET,
                RunTarget(job_id=request.job_id, run_id=run_id, idempotency_key=key),
                result_type=TargetResult,
                start_to_close_timeout=TARGET_TIMEOUT,
                retry_policy=RetryPolicy(
                    maximum_attempts=begin.max_attempts,
                    initial_interval=timedelta(seconds=1),
                    maximum_interval=timedelta(minutes=1),
                ),
            )
            finish.result = done.result
        except ActivityError as exc:
            cause = exc.cause
            finish.status = "failed"
            if isinstance(cause, ApplicationError):
                finish.error_message, finish.error_stack = cause.message, cause.type
            else:
                finish.error_message = str(cause or exc)
        finish.finished_at = workflow.now()
        await workflow.execute_local_activity(FINISH_RUN, finish, start_to_close_timeout=BOOKKEEPING)
        return RunOutcome(run_id=run_id, status=finish.status)
