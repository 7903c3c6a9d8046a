"""Scheduled jobs: scope and validation rules, and keeping each job's Temporal Schedule
(`sched-<id>`) in step with its row. A Temporal call that fails raises SchedulerUnavailable (503)
before the caller's transaction commits, so the row never claims a schedule Temporal refused; a
commit that fails after Temporal accepted is repaired by `reconcile` (worker start-up, CLI)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import ColumnElement, or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from engine.auth.schemas import Principal
from engine.db.base import utcnow
from engine.db.models import ScheduledJobRow, ScheduledJobRunRow
from engine.pagination import PageParams, page_of, sort_order
from engine.scheduler import repository, specs, targets
from engine.scheduler.errors import InvalidJob, SchedulerUnavailable, SystemScopeForbidden
from engine.scheduler.schemas import RunJob
from engine.scheduler.specs import JobSpec
from engine.scheduler.workflows import ScheduledJobRunWorkflow
from engine.temporal.ids import (
    SCHEDULE_PREFIX,
    job_from_schedule_id,
    job_schedule_id,
    manual_run_id,
    scheduled_run_prefix,
)

log = logging.getLogger("covo.scheduler")
J = ScheduledJobRow
T = TypeVar("T")
FINGERPRINT = "covoSpec"
TASK_QUEUE = "covoTaskQueue"


class JobFields(BaseModel):
    """Fields of a job shared by create and update (camelCase as in the contract)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    description: str | None = Field(default=None, max_length=500)
    timezone: str = "UTC"
    target_queue: str | None = Field(default=None, alias="targetQueue")
    target_command: str | None = Field(default=None, alias="targetCommand")
    target_payload: dict[str, Any] | None = Field(default=None, alias="targetPayload")
    require_feature: str | None = Field(default=None, alias="requireFeature", max_length=200)
    is_enabled: bool = Field(default=True, alias="isEnabled")
    overlap_policy: specs.Overlap = Field(
        default="SKIP",
        alias="overlapPolicy",
        description="What a firing does while the previous run is still going: SKIP (default), BUFFER_ONE, ALLOW_ALL.",
    )
    catchup_window_seconds: int | None = Field(
        default=None,
        alias="catchupWindowSeconds",
        ge=10,
        description="A firing missed during an outage still runs (once) if the outage ended within this window. "
        "Default: one period of the job, between 10 s and 1 day.",
    )
    jitter_seconds: int = Field(
        default=0, alias="jitterSeconds", ge=0, description="Random delay up to this many seconds per firing."
    )
    max_attempts: int = Field(
        default=3, alias="maxAttempts", ge=1, le=100, description="Attempts of the target per firing (retries)."
    )


class JobInput(JobFields):
    """A new job (POST /scheduler/jobs, definitions/schedules/*.json)."""

    name: str = Field(min_length=1, max_length=200)
    scope_type: Literal["system", "organization", "tenant"] = Field(alias="scopeType")
    schedule_type: specs.ScheduleType = Field(alias="scheduleType")
    schedule_value: str = Field(alias="scheduleValue", min_length=1, max_length=200)
    target_type: targets.TargetType = Field(alias="targetType")
    source_type: Literal["user", "module"] = Field(default="user", alias="sourceType")
    source_module: str | None = Field(default=None, alias="sourceModule", max_length=200)


class ShippedJob(JobInput):
    """A job in `definitions/schedules/*.json`: it names its id, so applying it twice updates
    instead of duplicating."""

    id: uuid.UUID | None = None


class JobPatch(BaseModel):
    """PUT /scheduler/jobs: only the fields sent change; scope fields cannot change."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: uuid.UUID
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=500)
    schedule_type: specs.ScheduleType | None = Field(default=None, alias="scheduleType")
    schedule_value: str | None = Field(default=None, alias="scheduleValue", min_length=1, max_length=200)
    timezone: str | None = None
    target_type: targets.TargetType | None = Field(default=None, alias="targetType")
    target_queue: str | None = Field(default=None, alias="targetQueue")
    target_command: str | None = Field(default=None, alias="targetCommand")
    target_payload: dict[str, Any] | None = Field(default=None, alias="targetPayload")
    require_feature: str | None = Field(default=None, alias="requireFeature", max_length=200)
    is_enabled: bool | None = Field(default=None, alias="isEnabled")
    overlap_policy: specs.Overlap | None = Field(default=None, alias="overlapPolicy")
    catchup_window_seconds: int | None = Field(default=None, alias="catchupWindowSeconds", ge=10)
    jitter_seconds: int | None = Field(default=None, alias="jitterSeconds", ge=0)
    max_attempts: int | None = Field(default=None, alias="maxAttempts", ge=1, le=100)


# ---------------------------------------------------------------- pure helpers


def spec_of(row: ScheduledJobRow) -> JobSpec:
    return JobSpec(
        row.schedule_type,  # type: ignore[arg-type]
        row.schedule_value,
        row.timezone,
        row.overlap_policy,  # type: ignore[arg-type]
        row.catchup_window_seconds,
        row.jitter_seconds,
    )


def next_run_at(row: ScheduledJobRow, now: datetime | None = None) -> datetime | None:
    """When the job fires next, from the same spec Temporal runs (None while disabled)."""
    return specs.next_run(spec_of(row), now or utcnow()) if row.is_enabled and row.deleted_at is None else None


def _check_target(row: ScheduledJobRow) -> None:
    path = "targetQueue" if row.target_type == "queue" else "targetCommand"
    name = row.target_queue if row.target_type == "queue" else row.target_command
    if not name:
        raise InvalidJob(path, f"{path} is required when targetType is '{row.target_type}'")
    target = targets.find(row.target_type, name)
    if target is None:
        kind = "Queue" if row.target_type == "queue" else "Command"
        raise InvalidJob(path, f"{kind} '{name}' does not exist (GET /scheduler/targets lists them)")
    if target.payload_model is not None:
        try:
            target.payload_model.model_validate(row.target_payload or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise InvalidJob(f"targetPayload.{where}".rstrip("."), str(first.get("msg", "invalid")))


def validate_row(row: ScheduledJobRow) -> None:
    """Raises InvalidJob (with the field's path) for a bad spec or target; normalises the cron."""
    stored = specs.validate(spec_of(row))
    row.schedule_value = stored.schedule_value
    if row.target_type == "queue":
        row.target_command = None
    else:
        row.target_queue = None
    _check_target(row)


def _scope(row: ScheduledJobRow, principal: Principal, scope_type: str) -> None:
    """Tenant and organization come from the caller, never from the body (reference §4.4)."""
    if scope_type == "system":
        if not principal.is_super_admin:
            raise SystemScopeForbidden()
        row.tenant_id = row.organization_id = None
    elif scope_type == "organization":
        if principal.organization_id is None:
            raise InvalidJob("scopeType", "Invalid scope configuration: the caller has no organization")
        row.tenant_id, row.organization_id = principal.tenant_id, principal.organization_id
    else:
        row.tenant_id, row.organization_id = principal.tenant_id, None
    row.scope_type = scope_type


def job_schedule(row: ScheduledJobRow, task_queue: str, now: datetime | None = None) -> Schedule:
    spec = spec_of(row)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledJobRunWorkflow.run,
            RunJob(job_id=row.id),
            id=scheduled_run_prefix(row.id),
            task_queue=task_queue,
            memo={FINGERPRINT: specs.fingerprint(spec, task_queue)},
        ),
        spec=specs.schedule_spec(spec),
        policy=specs.schedule_policy(spec, now or utcnow()),
        state=ScheduleState(paused=not row.is_enabled, note=None if row.is_enabled else "disabled"),
    )


# ---------------------------------------------------------------- Temporal


async def _temporal(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except (RPCError, RuntimeError) as exc:
        log.warning("scheduler: Temporal refused: %s", exc)
        raise SchedulerUnavailable(f"Scheduler unavailable: {exc}")


async def put_schedule(client: Client, row: ScheduledJobRow, task_queue: str) -> str:
    """Creates the job's schedule, or replaces spec, policy, action and paused state of the
    existing one. Returns "created" or "updated"."""
    schedule = job_schedule(row, task_queue)
    schedule_id = job_schedule_id(row.id)
    try:
        await client.create_schedule(schedule_id, schedule, memo={TASK_QUEUE: task_queue})
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(schedule_id).update(replace)
    return "updated"


async def drop_schedule(client: Client, job_id: uuid.UUID) -> bool:
    try:
        await client.get_schedule_handle(job_schedule_id(job_id)).delete()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


# ---------------------------------------------------------------- CRUD

NOT_NULL = frozenset(
    {"name", "schedule_type", "schedule_value", "timezone", "target_type", "is_enabled", "overlap_policy"}
    | {"jitter_seconds", "max_attempts"}
)
# The scheduler's own retention job: a system job every deployment has (created by reconcile).
PRUNE_JOB_ID = uuid.UUID("5c4ed01e-0000-4000-8000-00000000000a")


async def ensure_builtin_jobs(session: AsyncSession) -> None:
    """Inserts the scheduler's own jobs once (workers starting together race here, hence ON
    CONFLICT); a built-in job an operator deleted or changed is left as it is."""
    from engine.scheduler.builtin_targets import PRUNE_QUEUE

    prune = dict(
        id=PRUNE_JOB_ID, name="Scheduler: prune execution history",
        description="Deletes runs that finished more than SCHEDULER_RETENTION_DAYS ago.", scope_type="system",
        schedule_type="cron", schedule_value="17 3 * * *", timezone="UTC", target_type="queue",
        target_queue=PRUNE_QUEUE, source_type="module", source_module="scheduler", is_enabled=True,
        overlap_policy="SKIP", jitter_seconds=0, max_attempts=3,
    )  # fmt: skip
    await session.execute(insert(ScheduledJobRow).values(**prune).on_conflict_do_nothing(index_elements=["id"]))


async def create_job(
    session: AsyncSession,
    client: Client,
    principal: Principal | None,
    body: JobInput,
    task_queue: str,
    *,
    tenant_id: uuid.UUID | None = None,
) -> ScheduledJobRow:
    """Principal None: a job shipped as data (`covo definitions apply`) in `tenant_id`."""
    row = ScheduledJobRow(
        id=getattr(body, "id", None) or uuid.uuid4(),
        **body.model_dump(exclude={"id", "scope_type"}),
        created_by_user_id=principal.user_id if principal else None,
        updated_by_user_id=principal.user_id if principal else None,
    )
    if principal is not None:
        _scope(row, principal, body.scope_type)
    else:
        row.scope_type, row.tenant_id = body.scope_type, tenant_id
    validate_row(row)
    row.next_run_at = next_run_at(row)
    session.add(row)
    await session.flush()
    await _temporal(lambda: put_schedule(client, row, task_queue))
    return row


async def update_job(
    session: AsyncSession, client: Client, principal: Principal, patch: JobPatch, task_queue: str
) -> ScheduledJobRow:
    row = await repository.writable_job(session, principal, patch.id)
    changes = patch.model_dump(exclude={"id"}, exclude_unset=True)
    if "schedule_value" in changes and "schedule_type" not in changes:
        raise InvalidJob("scheduleType", "scheduleType is required when scheduleValue changes")
    if "target_type" in changes:
        field = "target_queue" if changes["target_type"] == "queue" else "target_command"
        if not changes.get(field):
            path = "targetQueue" if field == "target_queue" else "targetCommand"
            raise InvalidJob(path, f"{path} is required when targetType changes")
    for key, value in changes.items():
        if value is None and key in NOT_NULL:
            continue  # null for a required field means "unchanged"
        setattr(row, key, value)
    row.updated_by_user_id = principal.user_id
    await save_changes(session, client, row, task_queue)
    return row


async def save_changes(session: AsyncSession, client: Client, row: ScheduledJobRow, task_queue: str) -> None:
    """Validates a changed row, flushes it and brings its schedule in line."""
    row.updated_at = utcnow()
    validate_row(row)
    row.next_run_at = next_run_at(row)
    await session.flush()
    await _temporal(lambda: put_schedule(client, row, task_queue))


async def delete_job(session: AsyncSession, client: Client, principal: Principal, job_id: uuid.UUID | None) -> None:
    """Soft delete: the row stays (its runs too), the schedule goes."""
    row = await repository.writable_job(session, principal, job_id)
    row.deleted_at = row.updated_at = utcnow()
    row.is_enabled = False
    row.next_run_at = None
    await session.flush()
    await _temporal(lambda: drop_schedule(client, row.id))


LIST_SORT: dict[str, Any] = {
    "id": J.id,
    "name": J.name,
    "nextRunAt": J.next_run_at,
    "lastRunAt": J.last_run_at,
    "createdAt": J.created_at,
    "updatedAt": J.updated_at,
}


async def list_jobs(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    job_id: uuid.UUID | None = None,
    search: str | None = None,
    scope_type: str | None = None,
    is_enabled: bool | None = None,
    source_type: str | None = None,
    source_module: str | None = None,
    sort: str | None = None,
    order: str | None = None,
) -> tuple[int, list[ScheduledJobRow]]:
    query = repository.jobs(principal)
    conditions: list[ColumnElement[bool]] = []
    if job_id is not None:
        conditions.append(J.id == job_id)
    if search:
        pattern = f"%{search}%"
        conditions.append(or_(J.name.ilike(pattern), J.description.ilike(pattern)))
    for column, value in (
        (J.scope_type, scope_type),
        (J.source_type, source_type),
        (J.source_module, source_module),
        (J.is_enabled, is_enabled),
    ):
        if value is not None:
            conditions.append(column == value)
    total, result = await page_of(
        session, query.where(*conditions), params, sort_order(LIST_SORT, sort, order, default="id"), J.id
    )
    return total, list(result.scalars().all())


# ---------------------------------------------------------------- runs


async def trigger(
    session: AsyncSession, client: Client, principal: Principal, job_id: uuid.UUID | None, task_queue: str
) -> ScheduledJobRunRow:
    """Runs the job now, whatever its schedule or state, as a `manual` run; answers with the run
    (status `waiting` until its workflow picks it up)."""
    job = await repository.visible_job(session, principal, job_id)
    run_id = uuid.uuid4()
    now = utcnow()
    run = ScheduledJobRunRow(
        id=run_id, job_id=job.id, tenant_id=job.tenant_id, organization_id=job.organization_id,
        idempotency_key=f"{job.id}:manual:{run_id}", workflow_id=manual_run_id(job.id, run_id), status="waiting",
        trigger_type="manual", triggered_by_user_id=principal.user_id, started_at=now,
    )  # fmt: skip
    session.add(run)
    await session.flush()
    request = RunJob(job_id=job.id, trigger="manual", run_id=run_id, triggered_by=principal.user_id)
    await _temporal(
        lambda: client.start_workflow(ScheduledJobRunWorkflow.run, request, id=run.workflow_id, task_queue=task_queue)
    )
    return run


async def list_runs(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID | None, params: PageParams
) -> tuple[int, list[ScheduledJobRunRow]]:
    """Newest first."""
    job = await repository.visible_job(session, principal, job_id)
    R = ScheduledJobRunRow
    total, result = await page_of(session, repository.runs_of(job.id), params, R.started_at.desc(), R.id.desc())
    return total, list(result.scalars().all())


# ---------------------------------------------------------------- reconcile


@dataclasses.dataclass
class Reconciled:
    created: list[str] = dataclasses.field(default_factory=list)
    repaired: list[str] = dataclasses.field(default_factory=list)
    deleted: list[str] = dataclasses.field(default_factory=list)
    unchanged: int = 0


async def _described_fingerprint(client: Client, job_id: uuid.UUID) -> tuple[str | None, bool] | None:
    try:
        description = await client.get_schedule_handle(job_schedule_id(job_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    action = description.schedule.action
    memo = getattr(action, "memo", None) or {}
    raw = memo.get(FINGERPRINT)
    value = None
    if raw is not None:
        value = raw if isinstance(raw, str) else client.data_converter.payload_converter.from_payloads([raw])[0]
    return value, description.schedule.state.paused


async def reconcile(session: AsyncSession, client: Client, task_queue: str, concurrency: int = 16) -> Reconciled:
    """Makes Temporal match the table: a schedule for every live job (paused when disabled) with
    the job's current spec, and none for deleted or unknown jobs of this task queue."""
    await ensure_builtin_jobs(session)
    rows = await repository.all_live_jobs(session)
    report = Reconciled()
    gate = asyncio.Semaphore(concurrency)

    async def one(row: ScheduledJobRow) -> None:
        async with gate:
            found = await _described_fingerprint(client, row.id)
            want = specs.fingerprint(spec_of(row), task_queue)
            if found == (want, not row.is_enabled):
                report.unchanged += 1
                return
            outcome = await put_schedule(client, row, task_queue)
            (report.created if outcome == "created" else report.repaired).append(str(row.id))
            log.info("scheduler reconcile: %s schedule of job %s", outcome, row.id)

    await asyncio.gather(*(one(row) for row in rows))
    live = {row.id for row in rows}
    async for listed in await client.list_schedules():
        job_id = job_from_schedule_id(listed.id)
        if job_id is None or job_id in live or not listed.id.startswith(SCHEDULE_PREFIX):
            continue
        if (await listed.memo()).get(TASK_QUEUE) != task_queue:
            continue  # another deployment's job sharing the namespace
        if await drop_schedule(client, job_id):
            report.deleted.append(str(job_id))
            log.info("scheduler reconcile: deleted orphan schedule of job %s", job_id)
    return report
