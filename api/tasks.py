"""User tasks: the inbox list, claim, complete and, beyond the contract, release, reassign,
change (PATCH) and a comment thread. Commands are Temporal Updates to the task's instance, whose
validators apply the permission matrix:

- a role-queue task can be claimed by a member of one of its roles, a task assigned to a user
  only by that user; completed by the claimer or the assignee;
- a holder of `workflows.tasks.manage` may do anything to any task of the tenant;
- anyone else gets 403, another tenant's task is 404.

Each command is an event on the instance with an audit line (actor, before, after)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Res, Session, features_doc, require
from api.schemas.common import Data, DataMessage, OffsetPage
from api.schemas.tasks import (
    CommentBody,
    CompleteBody,
    ReassignBody,
    TaskComment,
    TaskPatchBody,
    task_comment,
    user_task,
)
from api.schemas.workflows import UserTask
from engine.auth.schemas import Principal
from engine.auth.scope import parse_uuid
from engine.errors import Conflict, Forbidden
from engine.pagination import OffsetParams
from engine.workflows import inbox
from engine.workflows.tasks import MANAGE_FEATURE, OPEN_STATUSES, Actor, can_see

router = APIRouter(tags=["Workflows"])

TasksView = Annotated[Principal, Depends(require("workflows.tasks.view"))]
TasksClaim = Annotated[Principal, Depends(require("workflows.tasks.claim"))]
TasksComplete = Annotated[Principal, Depends(require("workflows.tasks.complete"))]
TasksManage = Annotated[Principal, Depends(require("workflows.tasks.manage"))]

F = TypeVar("F", bound=Callable[..., Any])


def command_errors(feature: str, **more: str) -> dict[int | str, dict[str, Any]]:
    return {
        403: {"description": f"Requires features: {feature}; or not the caller's task (not in its role queue, not "
                             "its assignee or claimer, not a holder of workflows.tasks.manage)"},
        404: {"description": "Task not found (or another tenant's)"},
        409: {"description": "The task is in the wrong state (already claimed, completed, cancelled)"},
        **{int(code): {"description": text} for code, text in more.items()},
    }  # fmt: skip


def _statuses(value: str | None) -> list[str]:
    return [s.strip().upper() for s in (value or "").split(",") if s.strip()]


def _actor(principal: Principal) -> Actor:
    return Actor.of(str(principal.id), principal.role_names, principal.can(MANAGE_FEATURE))


@router.get(
    "/workflows/tasks",
    summary="List user tasks",
    response_model=OffsetPage[UserTask],
    openapi_extra=features_doc("workflows.tasks.view"),
)
async def list_tasks(
    principal: TasksView,
    session: Session,
    status: str | None = None,
    assigned_to: Annotated[str | None, Query(alias="assignedTo")] = None,
    workflow_instance_id: Annotated[str | None, Query(alias="workflowInstanceId")] = None,
    workflow_id: Annotated[str | None, Query(alias="workflowId")] = None,
    overdue: bool = False,
    my_tasks: Annotated[bool, Query(alias="myTasks")] = False,
    due_before: Annotated[datetime | None, Query(alias="dueBefore")] = None,
    due_after: Annotated[datetime | None, Query(alias="dueAfter")] = None,
    priority: Annotated[int | None, Query(ge=0, le=100)] = None,
    sort_field: Annotated[str | None, Query(alias="sortField", description="createdAt, dueDate or priority")] = None,
    sort_dir: Annotated[str | None, Query(alias="sortDir")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OffsetPage[UserTask]:
    """`myTasks=true`: assigned to me, claimed by me, or unclaimed in one of my roles' queues;
    `overdue=true`: open and past due. Sorted by `createdAt` (newest first) unless `sortField`
    says `dueDate` or `priority` (tasks without one last)."""
    params = OffsetParams(limit=limit, offset=offset)
    filters = inbox.TaskFilters(
        statuses=_statuses(status), assigned_to=assigned_to,
        instance_id=parse_uuid(workflow_instance_id, "workflowInstanceId"), workflow_id=workflow_id,
        overdue=overdue, my_tasks=my_tasks, due_before=due_before, due_after=due_after, priority=priority,
        sort_field=sort_field, sort_dir=sort_dir,
    )  # fmt: skip
    total, rows = await inbox.list_tasks(session, principal, params, filters)
    return OffsetPage[UserTask].of([user_task(r) for r in rows], total, params)


@router.get(
    "/workflows/tasks/{id}",
    summary="Get a user task",
    response_model=Data[UserTask],
    openapi_extra=features_doc("workflows.tasks.view"),
)
async def get_task(id: str, principal: TasksView, session: Session) -> dict[str, Any]:
    return {"data": user_task(await inbox.get_task(session, principal, id))}


def command_route(
    method: str, path: str, feature: str, summary: str, *, status_code: int = 200, errors: dict[str, str] | None = None
) -> Callable[[F], F]:
    """A task command's route: its feature, its refusals, and the task with a message as answer."""
    return router.api_route(
        path,
        methods=[method],
        status_code=status_code,
        summary=summary,
        response_model=DataMessage[UserTask],
        openapi_extra=features_doc(feature),
        responses=command_errors(feature, **(errors or {})),
    )


async def send_command(
    session: AsyncSession, res: Res, principal: Principal, id: str, update: str, message: str, **fields: Any
) -> DataMessage[UserTask]:
    """Sends the command (a Temporal Update named `update`) to the task's instance; answers the task
    as the workflow left it."""
    task = await inbox.get_task(session, principal, id)
    op = await inbox.send(await res.temporal_client(), task, update, inbox.command(principal, task, **fields))
    return DataMessage[UserTask](data=user_task(task, op), message=message)


@command_route("POST", "/workflows/tasks/{id}/claim", "workflows.tasks.claim", "Claim a task")
async def claim_task(id: str, principal: TasksClaim, session: Session, res: Res) -> DataMessage[UserTask]:
    """A role-queue task by a member of one of its roles, a task assigned to a user by that user,
    any task by a manager. Of concurrent claims exactly one wins; the others get 409."""
    return await send_command(session, res, principal, id, "claim_task", "Task claimed successfully")


@command_route(
    "POST", "/workflows/tasks/{id}/complete", "workflows.tasks.complete", "Complete a user task",
    errors={"400": "The form does not fit `formSchema`: one `details` entry {path, message} per field"},
)  # fmt: skip
async def complete_task(
    id: str,
    principal: TasksComplete,
    session: Session,
    res: Res,
    body: CompleteBody,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> DataMessage[UserTask]:
    """By the claimer, the direct assignee or a manager. `formData` is validated against the
    task's `formSchema` (JSON Schema draft 2020-12, or the `{fields: [...]}` shape); a bad form is
    400 and changes nothing. `formData` is merged into the instance context (or the branch's), and
    the instance resumes. The same `Idempotency-Key` retried gets the same answer and completes
    once; completing a completed task otherwise is 409."""
    task = await inbox.get_task(session, principal, id)
    if task.status not in OPEN_STATUSES and not (idempotency_key and task.completion_key == idempotency_key):
        raise Conflict(f"Task is already {task.status.lower()}")
    client = await res.temporal_client()
    op = await inbox.complete(session, client, principal, task, body.form_data, body.comments, idempotency_key)
    return DataMessage[UserTask](data=user_task(task, op), message="Task completed successfully. Workflow resumed.")


@command_route(
    "POST", "/workflows/tasks/{id}/release", "workflows.tasks.claim", "Release a claimed task back to its queue"
)
async def release_task(id: str, principal: TasksClaim, session: Session, res: Res) -> DataMessage[UserTask]:
    """By the claimer or a manager: the task is PENDING and unclaimed again."""
    return await send_command(session, res, principal, id, "release_task", "Task released")


@command_route(
    "POST", "/workflows/tasks/{id}/reassign", "workflows.tasks.claim", "Reassign or delegate a task",
    errors={"400": "Neither assignedTo nor assignedToRoles given"},
)  # fmt: skip
async def reassign_task(
    id: str, principal: TasksClaim, session: Session, res: Res, body: ReassignBody
) -> DataMessage[UserTask]:
    """A manager, the claimer or the assignee hands the task to a user and/or role queues; it is
    PENDING and unclaimed afterwards."""
    return await send_command(
        session, res, principal, id, "reassign_task", "Task reassigned",
        assigned_to=body.assigned_to, assigned_to_roles=body.assigned_to_roles,
    )  # fmt: skip


@command_route(
    "PATCH", "/workflows/tasks/{id}", "workflows.tasks.manage", "Change a task's due date, priority or candidate roles"
)
async def patch_task(
    id: str, principal: TasksManage, session: Session, res: Res, body: TaskPatchBody
) -> DataMessage[UserTask]:
    """Managers only. A field left out keeps its value; `dueDate: ""` clears the due date and
    `assignedToRoles: []` the role queue."""
    due = body.due_date
    return await send_command(
        session, res, principal, id, "change_task", "Task updated",
        due_date=due if isinstance(due, datetime) else None, clear_due_date=due == "",
        priority=body.priority, assigned_to_roles=body.assigned_to_roles,
    )  # fmt: skip


@router.get(
    "/workflows/tasks/{id}/comments",
    summary="A task's comment thread",
    response_model=Data[list[TaskComment]],
    openapi_extra=features_doc("workflows.tasks.view"),
)
async def list_comments(id: str, principal: TasksView, session: Session) -> dict[str, Any]:
    task = await inbox.get_task(session, principal, id)
    if not can_see(task, _actor(principal)):
        raise Forbidden("You may not see this task's comments")
    return {"data": [task_comment(e) for e in await inbox.comments(session, task)]}


@command_route("POST", "/workflows/tasks/{id}/comments", "workflows.tasks.view", "Comment on a task", status_code=201)
async def add_comment(
    id: str, principal: TasksView, session: Session, res: Res, body: CommentBody
) -> DataMessage[UserTask]:
    """By anyone the task concerns (its queue, assignee, claimer, a manager), while its instance runs."""
    return await send_command(session, res, principal, id, "comment_task", "Comment added", text=body.text)
