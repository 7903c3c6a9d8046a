"""The ScheduledJobRun workflow's activities: record a run (or why it is skipped), run its target
exactly once per firing, record the outcome."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from engine.auth.schemas import Principal
from engine.auth.service import principal_for_user
from engine.db.base import utcnow
from engine.db.models import ScheduledJobRow, ScheduledJobRunRow, User
from engine.db.session import unit_of_work
from engine.errors import DomainError
from engine.scheduler import repository, targets
from engine.scheduler.activities import BEGIN_RUN, FINISH_RUN, RUN_TARGET
from engine.scheduler.schemas import BeginResult, BeginRun, FinishRun, RunTarget, TargetResult
from engine.scheduler.service import next_run_at
from engine.settings import Settings

R = ScheduledJobRunRow
FINISHED = ("completed", "failed", "skipped")


def _fail(message: str, kind: str) -> ApplicationError:
    """A failure retrying cannot fix (the job or its creator changed)."""
    return ApplicationError(message, type=kind, non_retryable=True)


class SchedulerActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, client: Client) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.client = client

    async def _skip_reason(self, session: AsyncSession, job: ScheduledJobRow, request: BeginRun) -> str | None:
        if request.trigger == "scheduled" and not job.is_enabled:
            return "Schedule is disabled"
        feature = job.require_feature
        if feature and job.tenant_id is not None:
            granted = await repository.tenant_has_feature(session, job.tenant_id, job.organization_id, feature)
            return None if granted else f"Tenant lacks the required feature {feature}"
        return None

    @activity.defn(name=BEGIN_RUN)
    async def begin_run(self, request: BeginRun) -> BeginResult:
        async with self.sessionmaker() as session, session.begin():
            job = await session.get(ScheduledJobRow, request.job_id, with_for_update=True)
            existing = await session.get(R, request.run_id, with_for_update=True)
            if existing is not None and existing.status in FINISHED:
                # A re-run of a firing that already finished (Temporal retried the workflow task).
                return BeginResult(action="run", finished=True)
            if job is None or job.deleted_at is not None:
                if existing is not None:
                    existing.status, existing.finished_at = "skipped", utcnow()
                    existing.error_message = "Schedule not found"
                return BeginResult(action="missing", reason="Schedule not found")
            reason = await self._skip_reason(session, job, request)
            now = utcnow()
            values: dict[str, Any] = dict(
                id=request.run_id, job_id=job.id, tenant_id=job.tenant_id, organization_id=job.organization_id,
                idempotency_key=request.idempotency_key, workflow_id=request.workflow_id,
                status="skipped" if reason else "running", trigger_type=request.trigger,
                triggered_by_user_id=request.triggered_by, scheduled_at=request.scheduled_at, started_at=now,
                finished_at=now if reason else None, duration_ms=0 if reason else None, error_message=reason,
            )  # fmt: skip
            update = {k: v for k, v in values.items() if k not in ("id", "idempotency_key", "triggered_by_user_id")}
            await session.execute(insert(R).values(**values).on_conflict_do_update(index_elements=[R.id], set_=update))
            if reason is None:
                job.last_run_at = now
            job.next_run_at = next_run_at(job, now)
        if reason is not None:
            return BeginResult(action="skipped", reason=reason)
        return BeginResult(action="run", max_attempts=job.max_attempts)

    async def _principal(self, session: AsyncSession, job: ScheduledJobRow, feature: str | None) -> Principal:
        """The job's creator, bound to the job's tenant and organization, never a super admin
        (reference §4.3)."""
        user = None if job.created_by_user_id is None else await session.get(User, job.created_by_user_id)
        if user is None or user.deleted_at is not None or not user.is_active:
            raise _fail("The job's creator no longer exists or is inactive", "creator_missing")
        principal = await principal_for_user(session, user, None)
        bound = dataclasses.replace(
            principal,
            tenant_id=job.tenant_id or principal.tenant_id,
            organization_id=job.organization_id if job.scope_type == "organization" else None,
            is_super_admin=False,
        )
        if feature is not None and bound.missing([feature]):
            raise _fail(f"The job's creator lacks the feature {feature}", "forbidden")
        return bound

    @activity.defn(name=RUN_TARGET)
    async def run_target(self, request: RunTarget) -> TargetResult:
        async with self.sessionmaker() as session, session.begin():
            run = await session.get(R, request.run_id)
            if run is None:
                raise _fail("Run not recorded", "run_missing")
            run.attempts = activity.info().attempt
        # After the commit, the unit of work runs what the target registered with
        # `engine.db.session.after_commit` (dropped when the attempt fails).
        async with unit_of_work(self.sessionmaker) as session:
            # The row lock serializes attempts of one firing; a completed run is not repeated.
            run = await session.get(R, request.run_id, with_for_update=True)
            assert run is not None
            if run.status == "completed":
                return TargetResult(result=run.result)
            job = await session.get(ScheduledJobRow, request.job_id)
            if job is None:
                raise _fail("Schedule not found", "schedule_missing")
            name = job.target_queue if job.target_type == "queue" else job.target_command
            target = targets.find(job.target_type, name)
            if target is None:
                raise _fail(f"Target {job.target_type} '{name}' is not registered", "unknown_target")
            scope = {
                "tenantId": None if job.tenant_id is None else str(job.tenant_id),
                "organizationId": None if job.organization_id is None else str(job.organization_id),
            }
            payload: dict[str, Any] = {**(job.target_payload or {}), **scope}
            principal = None
            if target.kind == "command":
                principal = await self._principal(session, job, target.feature)
            else:
                payload["_idempotencyKey"] = f"scheduler-{request.idempotency_key}"
            call = targets.TargetCall(
                session=session, temporal=self.client, settings=self.settings, payload=payload,
                tenant_id=job.tenant_id, organization_id=job.organization_id,
                idempotency_key=request.idempotency_key, principal=principal,
            )  # fmt: skip
            try:
                result = to_jsonable_python(await target.handler(call))
            except DomainError as exc:
                raise ApplicationError(exc.message, type=exc.code, non_retryable=exc.status_code < 500)
            # Recorded in the target's own transaction: what it wrote and "done" commit together.
            run.status, run.result = "completed", result
        return TargetResult(result=result)

    @activity.defn(name=FINISH_RUN)
    async def finish_run(self, request: FinishRun) -> None:
        async with self.sessionmaker() as session, session.begin():
            run = await session.get(R, request.run_id, with_for_update=True)
            if run is None or run.finished_at is not None:
                return
            run.status = "completed" if run.status == "completed" else request.status
            run.finished_at = request.finished_at
            run.duration_ms = max(0, int((request.finished_at - run.started_at).total_seconds() * 1000))
            if request.status == "completed" and run.result is None:
                run.result = request.result
            run.error_message, run.error_stack = request.error_message, request.error_stack
