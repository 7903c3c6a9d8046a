"""Scheduler: scheduled jobs (cron or interval, each a Temporal Schedule `sched-<id>`), their
targets, manual triggers and execution history. Jobs of another tenant answer 404; system jobs
are for super admins."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import Res, Session, features_doc, require
from api.forms import json_object
from api.schemas.common import Created, Ok, Page
from api.schemas.scheduler import (
    EXECUTION_QUEUE,
    CreateJobBody,
    Execution,
    Executions,
    IdBody,
    QueueJob,
    ScheduledJob,
    TargetOption,
    Targets,
    Triggered,
    UpdateJobBody,
)
from engine.auth.schemas import Principal
from engine.db.base import utcnow
from engine.errors import BadRequest
from engine.pagination import PageParams
from engine.scheduler import repository, service, targets
from engine.scheduler.errors import RunNotFound

router = APIRouter(tags=["Scheduler"])

VIEW, MANAGE, TRIGGER = "scheduler.jobs.view", "scheduler.jobs.manage", "scheduler.jobs.trigger"
View = Annotated[Principal, Depends(require(VIEW))]
Manage = Annotated[Principal, Depends(require(MANAGE))]
Trigger = Annotated[Principal, Depends(require(TRIGGER))]
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"description": "Schedule not found (or another tenant's)"}}
UNAVAILABLE: Responses = {503: {"description": "Temporal unavailable: nothing was changed"}}
INVALID: Responses = {400: {"description": "Invalid input: `details` holds the path of the bad field; nothing stored"}}


def _uuid(value: str | None) -> uuid.UUID | None:
    """A malformed id names no job: 404 like an unknown one."""
    try:
        return None if value is None else uuid.UUID(str(value))
    except ValueError:
        return None


@router.get(
    "/scheduler/jobs",
    response_model=Page[ScheduledJob],
    summary="List scheduled jobs",
    openapi_extra=features_doc(VIEW),
)
async def list_jobs(
    principal: View,
    session: Session,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
    id: str | None = None,
    search: str | None = None,
    scope_type: Annotated[str | None, Query(alias="scopeType")] = None,
    is_enabled: Annotated[bool | None, Query(alias="isEnabled")] = None,
    source_type: Annotated[str | None, Query(alias="sourceType")] = None,
    source_module: Annotated[str | None, Query(alias="sourceModule")] = None,
    sort: str | None = None,
    order: str | None = None,
    sort_field: Annotated[str | None, Query(alias="sortField")] = None,
    sort_dir: Annotated[str | None, Query(alias="sortDir")] = None,
) -> dict[str, Any]:
    """`search` matches name and description; `sort` (or `sortField`): id (default), name,
    nextRunAt, lastRunAt, createdAt, updatedAt; `order` (or `sortDir`) asc | desc. `pageSize` ≤ 100."""
    if page_size > 100:
        raise BadRequest("pageSize must be between 1 and 100")
    params = PageParams(page=page, page_size=page_size)
    job_id = _uuid(id)
    if id is not None and job_id is None:
        return {"items": [], "total": 0, "totalPages": 0}
    total, rows = await service.list_jobs(
        session, principal, params, job_id=job_id, search=search, scope_type=scope_type, is_enabled=is_enabled,
        source_type=source_type, source_module=source_module, sort=sort or sort_field, order=order or sort_dir,
    )  # fmt: skip
    now = utcnow()
    return {
        "items": [ScheduledJob.of(row, now) for row in rows],
        "total": total,
        "totalPages": -(-total // params.page_size),
    }


@router.post(
    "/scheduler/jobs",
    status_code=201,
    response_model=Created,
    summary="Create a scheduled job",
    openapi_extra=features_doc(MANAGE),
    responses={
        **INVALID,
        403: {"description": f"Missing {MANAGE}, or a system-scoped job without super admin"},
        **UNAVAILABLE,
    },
)
async def create_job(principal: Manage, session: Session, res: Res, body: CreateJobBody) -> dict[str, Any]:
    """Creates the row and its Temporal Schedule (paused when `isEnabled` is false)."""
    client = await res.temporal_client()
    row = await service.create_job(session, client, principal, body, res.settings.temporal_task_queue)
    return {"id": str(row.id)}


@router.put(
    "/scheduler/jobs",
    response_model=Ok,
    summary="Update a scheduled job",
    openapi_extra=features_doc(MANAGE),
    responses={
        **INVALID,
        403: {"description": f"Missing {MANAGE}; a system job without super admin; another organization's job"},
        **NOT_FOUND,
        **UNAVAILABLE,
    },
)
async def update_job(principal: Manage, session: Session, res: Res, body: UpdateJobBody) -> dict[str, Any]:
    """Disabling pauses the schedule, enabling unpauses it; spec and policy changes apply at once."""
    client = await res.temporal_client()
    await service.update_job(session, client, principal, body, res.settings.temporal_task_queue)
    return {"ok": True}


@router.delete(
    "/scheduler/jobs",
    response_model=Ok,
    summary="Delete a scheduled job",
    openapi_extra=features_doc(MANAGE),
    responses={400: {"description": "Schedule id is required"}, **NOT_FOUND, **UNAVAILABLE},
)
async def delete_job(
    principal: Manage,
    session: Session,
    res: Res,
    body: Annotated[dict[str, Any], Depends(json_object)],
    id: str | None = None,
) -> dict[str, Any]:
    """Soft delete (body `{id}` or `?id=`): the schedule is removed, the history stays."""
    raw = id or body.get("id")
    if raw in (None, ""):
        raise BadRequest("Schedule id is required")
    client = await res.temporal_client()
    await service.delete_job(session, client, principal, _uuid(str(raw)))
    return {"ok": True}


@router.get(
    "/scheduler/targets",
    response_model=Targets,
    summary="List available queues and commands",
    openapi_extra=features_doc(VIEW),
)
async def list_targets(_: View) -> dict[str, Any]:
    """What a job can run, registered in code by each domain (sorted by name)."""
    return {
        "queues": [TargetOption.of(t) for t in targets.listed("queue")],
        "commands": [TargetOption.of(t) for t in targets.listed("command")],
    }


@router.post(
    "/scheduler/trigger",
    response_model=Triggered,
    summary="Run a scheduled job now",
    openapi_extra=features_doc(TRIGGER),
    responses={**NOT_FOUND, **UNAVAILABLE},
)
async def trigger(principal: Trigger, session: Session, res: Res, body: IdBody) -> dict[str, Any]:
    """Starts a `manual` run at once, whether the job is enabled or not and alongside a run in
    flight (the overlap policy governs scheduled firings only)."""
    if not body.id:
        raise BadRequest("Schedule id is required")
    client = await res.temporal_client()
    run = await service.trigger(session, client, principal, _uuid(body.id), res.settings.temporal_task_queue)
    return {"ok": True, "jobId": str(run.job_id), "message": "Schedule queued for execution", "runId": str(run.id)}


@router.get(
    "/scheduler/jobs/{id}/executions",
    response_model=Executions,
    summary="Execution history of a scheduled job",
    openapi_extra=features_doc(VIEW),
    responses=NOT_FOUND,
)
async def executions(
    id: str,
    principal: View,
    session: Session,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 20,
) -> dict[str, Any]:
    """Newest first; every firing and manual trigger, including skipped ones, kept for
    `SCHEDULER_RETENTION_DAYS`. `pageSize` ≤ 100."""
    if page_size > 100:
        raise BadRequest("pageSize must be between 1 and 100")
    params = PageParams(page=page, page_size=page_size)
    total, runs = await service.list_runs(session, principal, _uuid(id), params)
    return {"items": [Execution.of(r) for r in runs], "total": total, "page": page, "pageSize": page_size}


@router.get(
    "/scheduler/queue-jobs/{jobId}",
    response_model=QueueJob,
    summary="One run in the BullMQ job shape",
    openapi_extra=features_doc(VIEW),
    responses={400: {"description": "Invalid queue name"}, 404: {"description": "Job not found"}},
)
async def queue_job(jobId: str, principal: View, session: Session, queue: str | None = None) -> QueueJob:
    """`jobId` is a run id (`queueJobId` of an execution, `runId` of a trigger). `queue`, when
    given, must be `scheduler-execution`."""
    if queue is not None and queue != EXECUTION_QUEUE:
        raise BadRequest("Invalid queue name")
    run_id = _uuid(jobId)
    found = None if run_id is None else await repository.run_for(session, principal, run_id)
    if found is None:
        raise RunNotFound()
    run, job_name = found
    return QueueJob.of(run, job_name)
