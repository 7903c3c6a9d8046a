"""Temporal contracts of the scheduler (pure)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

Trigger = Literal["scheduled", "manual"]
RunStatus = Literal["waiting", "running", "completed", "failed", "skipped"]


class RunJob(BaseModel):
    """The ScheduledJobRun workflow's input: what a schedule (or a manual trigger) starts."""

    job_id: uuid.UUID
    trigger: Trigger = "scheduled"
    # Manual triggers choose the run id up front (the API answers with it).
    run_id: uuid.UUID | None = None
    triggered_by: uuid.UUID | None = None


class RunOutcome(BaseModel):
    run_id: uuid.UUID
    status: RunStatus | Literal["missing"]


class BeginRun(BaseModel):
    job_id: uuid.UUID
    run_id: uuid.UUID
    idempotency_key: str
    workflow_id: str
    trigger: Trigger
    triggered_by: uuid.UUID | None = None
    scheduled_at: datetime | None = None
    started_at: datetime


class BeginResult(BaseModel):
    # run: go on with the target; skipped: recorded as skipped; missing: the job is gone.
    action: Literal["run", "skipped", "missing"]
    reason: str | None = None
    max_attempts: int = 3
    # A retried firing whose earlier attempt already finished: nothing more to do.
    finished: bool = False


class RunTarget(BaseModel):
    job_id: uuid.UUID
    run_id: uuid.UUID
    idempotency_key: str


class TargetResult(BaseModel):
    result: Any = None


class FinishRun(BaseModel):
    run_id: uuid.UUID
    status: Literal["completed", "failed"]
    result: Any = None
    error_message: str | None = None
    error_stack: str | None = None
    finished_at: datetime
