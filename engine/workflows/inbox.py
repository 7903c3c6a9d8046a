"""The task inbox: tenant-scoped task reads (my tasks and my roles' queue, filters, sorts) and the
task commands (claim, complete, release, reassign, change, comment) sent as Updates to the
instance's workflow, which applies the permission matrix of `engine.workflows.tasks`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import array as pg_array
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from engine import metrics
from engine.auth.schemas import Principal
from engine.db.models import UserTaskRow, WorkflowEventRow, WorkflowInstanceRow
from engine.errors import Conflict
from engine.pagination import OffsetParams, page_of, sort_order
from engine.workflows import service
from engine.workflows.schemas import TaskChange, TaskCommand, TaskOp, TaskView
from engine.workflows.tasks import MANAGE_FEATURE, OPEN_STATUSES
from engine.workflows.workflows import WorkflowInstanceWorkflow

TASK_SORT = {"createdAt": UserTaskRow.created_at, "dueDate": UserTaskRow.due_date, "priority": UserTaskRow.priority}


@dataclass(frozen=True)
class TaskFilters:
    statuses: list[str]
    assigned_to: str | None = None
    instance_id: uuid.UUID | None = None
    workflow_id: str | None = None
    overdue: bool = False
    my_tasks: bool = False
    due_before: datetime | None = None
    due_after: datetime | None = None
    priority: int | None = None
    sort_field: str | None = None
    sort_dir: str | None = None


async def get_task(session: AsyncSession, principal: Principal, task_id: str) -> UserTaskRow:
    return await service.tenant_row(session, principal, UserTaskRow, task_id, "Task not found")


def mine(principal: Principal) -> Any:
    """Assigned to me, claimed by me, or unclaimed in one of my roles' queues."""
    me = str(principal.id)
    conditions = [UserTaskRow.assigned_to == me, UserTaskRow.claimed_by == me]
    if principal.role_names:
        # jsonb ?| text[] (GIN-indexed): the task's role queue shares a role with the caller.
        conditions.append(
            and_(
                UserTaskRow.assigned_to.is_(None),
                UserTaskRow.claimed_by.is_(None),
                UserTaskRow.assigned_to_roles.op("?|")(pg_array(list(principal.role_names))),
            )
        )
    return or_(*conditions)


async def list_tasks(
    session: AsyncSession, principal: Principal, params: OffsetParams, filters: TaskFilters
) -> tuple[int, list[UserTaskRow]]:
    query = select(UserTaskRow).where(UserTaskRow.tenant_id == principal.tenant_id)
    if filters.statuses:
        query = query.where(UserTaskRow.status.in_(filters.statuses))
    if filters.assigned_to:
        query = query.where(UserTaskRow.assigned_to == filters.assigned_to)
    if filters.instance_id:
        query = query.where(UserTaskRow.workflow_instance_id == filters.instance_id)
    if filters.workflow_id:
        instances = select(WorkflowInstanceRow.id).where(
            WorkflowInstanceRow.tenant_id == principal.tenant_id, WorkflowInstanceRow.workflow_id == filters.workflow_id
        )
        query = query.where(UserTaskRow.workflow_instance_id.in_(instances))
    if filters.overdue:
        query = query.where(UserTaskRow.due_date < datetime.now(UTC), UserTaskRow.status.in_(OPEN_STATUSES))
    if filters.due_before:
        query = query.where(UserTaskRow.due_date < filters.due_before)
    if filters.due_after:
        query = query.where(UserTaskRow.due_date > filters.due_after)
    if filters.priority is not None:
        query = query.where(UserTaskRow.priority == filters.priority)
    if filters.my_tasks:
        query = query.where(mine(principal))
    order = sort_order(TASK_SORT, filters.sort_field, filters.sort_dir, default="createdAt", default_dir="desc")
    nulls_last = order.nulls_last() if filters.sort_field in ("dueDate", "priority") else order
    total, page = await page_of(session, query, params, nulls_last, UserTaskRow.id)
    return total, list(page.scalars())


async def comments(session: AsyncSession, task: UserTaskRow) -> list[WorkflowEventRow]:
    query = (
        select(WorkflowEventRow)
        .where(
            WorkflowEventRow.workflow_instance_id == task.workflow_instance_id,
            WorkflowEventRow.event_type == "USER_TASK_COMMENTED",
            WorkflowEventRow.event_data["taskId"].astext == str(task.id),
        )
        .order_by(WorkflowEventRow.seq)
    )
    return list((await session.scalars(query)).all())


# ---------------------------------------------------------------- commands


def command(principal: Principal, task: UserTaskRow, **fields: Any) -> TaskChange:
    return TaskChange(
        task_id=task.id,
        user_id=str(principal.id),
        user_roles=list(principal.role_names),
        manager=principal.can(MANAGE_FEATURE),
        **fields,
    )


# The task commands, by name (the API's and the metrics' vocabulary) -> the workflow's Update.
UPDATES: dict[str, Any] = {
    "claim_task": WorkflowInstanceWorkflow.claim_task,
    "complete_task": WorkflowInstanceWorkflow.complete_task,
    "release_task": WorkflowInstanceWorkflow.release_task,
    "reassign_task": WorkflowInstanceWorkflow.reassign_task,
    "change_task": WorkflowInstanceWorkflow.change_task,
    "comment_task": WorkflowInstanceWorkflow.comment_task,
}


async def send(client: Client, task: UserTaskRow, name: str, arg: TaskCommand, update_id: str | None = None) -> TaskOp:
    view: TaskView = await service._update(client, task.workflow_instance_id, UPDATES[name], arg, update_id)
    metrics.TASK_COMMANDS.inc(command=name)
    return TaskOp.model_validate(view.task)


async def complete(
    session: AsyncSession,
    client: Client,
    principal: Principal,
    task: UserTaskRow,
    form_data: dict[str, Any],
    comments: str | None,
    idempotency_key: str | None,
) -> TaskOp | None:
    """Completes once per `Idempotency-Key`: a retry with the same key gets the same answer (the
    Update id is derived from the key, so Temporal deduplicates one still in flight; one already
    done is answered from the row). Returns None when the answer is the row as it stands."""
    if idempotency_key and task.status == "COMPLETED" and task.completion_key == idempotency_key:
        return None
    arg = TaskCommand(
        task_id=task.id, user_id=str(principal.id), user_roles=list(principal.role_names),
        manager=principal.can(MANAGE_FEATURE), form_data=form_data, comments=comments,
        idempotency_key=idempotency_key,
    )  # fmt: skip
    update_id = f"task-complete:{task.id}:{idempotency_key}" if idempotency_key else None
    try:
        return await send(client, task, "complete_task", arg, update_id)
    except Conflict:
        if idempotency_key:
            await session.refresh(task)
            if task.status == "COMPLETED" and task.completion_key == idempotency_key:
                return None
        raise
