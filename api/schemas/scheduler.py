"""Request bodies and response models of the scheduler routes (api/scheduler.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Body
from engine.clock import iso, iso_or_none
from engine.db.models import ScheduledJobRow, ScheduledJobRunRow
from engine.scheduler.service import JobInput, JobPatch, next_run_at
from engine.scheduler.targets import Target

# The queue name the contract's BullMQ fields report for every run.
EXECUTION_QUEUE = "scheduler-execution"


class CreateJobBody(JobInput):
    """`organizationId`/`tenantId` in the body are ignored: the scope's tenant and organization
    come from the caller (`system` needs a super admin). `scheduleValue` is a 5-field cron,
    evaluated in `timezone` (IANA), or an interval `<n>s|m|h|d` counted from the Unix epoch."""


class UpdateJobBody(JobPatch):
    """Partial update; scope fields are immutable. `scheduleValue` needs `scheduleType`;
    changing `targetType` needs the matching target field."""


class IdBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


class ScheduledJob(Body):
    """A job. `nextRunAt` comes from the same spec Temporal runs (null while disabled);
    `lastRunAt` is written by each firing. Beyond the contract: the run policies."""

    id: str
    name: str
    description: str | None
    scopeType: str
    organizationId: str | None
    tenantId: str | None
    scheduleType: str
    scheduleValue: str
    timezone: str
    targetType: str
    targetQueue: str | None
    targetCommand: str | None
    targetPayload: dict[str, Any] | None
    requireFeature: str | None
    isEnabled: bool
    lastRunAt: str | None
    nextRunAt: str | None
    sourceType: str
    sourceModule: str | None
    createdAt: str
    updatedAt: str
    overlapPolicy: str = Field(description="SKIP (default), BUFFER_ONE or ALLOW_ALL")
    catchupWindowSeconds: int | None = Field(description="null: one period of the job, within 10 s..1 day")
    jitterSeconds: int
    maxAttempts: int

    @classmethod
    def of(cls, row: ScheduledJobRow, now: datetime) -> ScheduledJob:
        return cls(
            id=str(row.id), name=row.name, description=row.description, scopeType=row.scope_type,
            organizationId=_str(row.organization_id), tenantId=_str(row.tenant_id), scheduleType=row.schedule_type,
            scheduleValue=row.schedule_value, timezone=row.timezone, targetType=row.target_type,
            targetQueue=row.target_queue, targetCommand=row.target_command, targetPayload=row.target_payload,
            requireFeature=row.require_feature, isEnabled=row.is_enabled, lastRunAt=iso_or_none(row.last_run_at),
            nextRunAt=iso_or_none(next_run_at(row, now)), sourceType=row.source_type, sourceModule=row.source_module,
            createdAt=iso(row.created_at), updatedAt=iso(row.updated_at),
            overlapPolicy=row.overlap_policy, catchupWindowSeconds=row.catchup_window_seconds,
            jitterSeconds=row.jitter_seconds, maxAttempts=row.max_attempts,
        )  # fmt: skip


class Execution(Body):
    """One run. `queueJobId` is the run id (`GET /scheduler/queue-jobs/{jobId}`). Beyond the
    contract: `scheduledAt` (null for manual runs) and the Temporal `workflowId`."""

    id: str
    scheduleId: str
    startedAt: str
    finishedAt: str | None
    status: str
    triggerType: str
    triggeredByUserId: str | None
    errorMessage: str | None
    errorStack: str | None
    durationMs: int | None
    queueJobId: str
    queueName: str
    attemptsMade: int
    result: Any
    scheduledAt: str | None
    workflowId: str

    @classmethod
    def of(cls, run: ScheduledJobRunRow) -> Execution:
        return cls(
            id=str(run.id), scheduleId=str(run.job_id), startedAt=iso(run.started_at),
            finishedAt=iso_or_none(run.finished_at), status=run.status, triggerType=run.trigger_type,
            triggeredByUserId=_str(run.triggered_by_user_id), errorMessage=run.error_message,
            errorStack=run.error_stack, durationMs=run.duration_ms, queueJobId=str(run.id),
            queueName=EXECUTION_QUEUE, attemptsMade=run.attempts, result=run.result,
            scheduledAt=iso_or_none(run.scheduled_at), workflowId=run.workflow_id,
        )  # fmt: skip


class Executions(Body):
    items: list[Execution]
    total: int
    page: int
    pageSize: int


_STATES = {"waiting": "waiting", "running": "active", "completed": "completed", "failed": "failed"}


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


class QueueJob(Body):
    """A run in the contract's BullMQ shape: `state` waiting | active | completed | failed |
    skipped, `processedOn`/`finishedOn` epoch milliseconds. Beyond the contract: the job's id
    (`scheduleId`) and the Temporal `workflowId`."""

    id: str
    name: str
    state: str
    progress: Any
    returnvalue: Any
    failedReason: str | None
    stacktrace: list[str] | None
    attemptsMade: int
    processedOn: int | None
    finishedOn: int | None
    logs: list[str]
    scheduleId: str
    workflowId: str

    @classmethod
    def of(cls, run: ScheduledJobRunRow, job_name: str) -> QueueJob:
        logs = [f"{run.trigger_type} run recorded {iso(run.started_at)}"]
        if run.scheduled_at is not None:
            logs.append(f"scheduled for {iso(run.scheduled_at)}")
        if run.attempts:
            logs.append(f"attempts: {run.attempts}")
        if run.finished_at is not None:
            logs.append(
                f"{run.status} {iso(run.finished_at)}" + (f": {run.error_message}" if run.error_message else "")
            )
        return cls(
            id=str(run.id), name=job_name, state=_STATES.get(run.status, run.status), progress=None,
            returnvalue=run.result, failedReason=run.error_message if run.status == "failed" else None,
            stacktrace=[run.error_stack] if run.error_stack else None, attemptsMade=run.attempts,
            processedOn=_ms(run.started_at) if run.status != "waiting" else None, finishedOn=_ms(run.finished_at),
            logs=logs, scheduleId=str(run.job_id), workflowId=run.workflow_id,
        )  # fmt: skip


class TargetOption(Body):
    value: str
    label: str

    @classmethod
    def of(cls, target: Target) -> TargetOption:
        return cls(value=target.name, label=target.label)


class Targets(Body):
    queues: list[TargetOption]
    commands: list[TargetOption]


class Triggered(Body):
    """`jobId` is the scheduled job; beyond the contract, `runId` is the run just queued
    (`GET /scheduler/queue-jobs/{runId}`, and the newest of the job's executions)."""

    ok: bool
    jobId: str
    message: str
    runId: str
