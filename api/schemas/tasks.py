"""Request bodies and answers of the task inbox routes (`api/tasks.py`). The task itself is
`api.schemas.workflows.UserTask`, as the contract shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Body
from api.schemas.workflows import UserTask
from engine.clock import iso_or_none
from engine.db.models import UserTaskRow, WorkflowEventRow
from engine.workflows.schemas import TaskOp


class _Request(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class CompleteBody(_Request):
    form_data: dict[str, Any] = Field(alias="formData")
    comments: str | None = None


class ReassignBody(_Request):
    """To a user (`assignedTo`), to role queues (`assignedToRoles`), or both. The task goes back
    to PENDING, unclaimed."""

    assigned_to: str | None = Field(None, alias="assignedTo", min_length=1, max_length=255)
    assigned_to_roles: list[str] | None = Field(None, alias="assignedToRoles")


class TaskPatchBody(_Request):
    """A changeset: a field left out (or null) keeps its value; `dueDate: ""` and
    `assignedToRoles: []` clear."""

    due_date: datetime | Literal[""] | None = Field(None, alias="dueDate")
    priority: int | None = Field(None, ge=0, le=100)
    assigned_to_roles: list[str] | None = Field(None, alias="assignedToRoles")


class CommentBody(_Request):
    text: str = Field(min_length=1, max_length=10_000)


class TaskComment(Body):
    id: str
    taskId: str
    author: str | None
    text: str
    createdAt: str


def _iso(value: datetime | None) -> str | None:
    return iso_or_none(value)


def user_task(row: UserTaskRow, op: TaskOp | None = None) -> UserTask:
    """The row, with what the workflow answered laid over it (the projection may lag by a flush)."""
    live: Any = op or row
    return UserTask(
        id=str(row.id),
        workflowInstanceId=str(row.workflow_instance_id),
        stepInstanceId=str(row.step_instance_id) if row.step_instance_id else None,
        branchKey=row.branch_key,
        taskName=row.task_name,
        description=row.description,
        status=live.status,
        formSchema=row.form_schema,
        formData=live.form_data,
        assignedTo=live.assigned_to,
        assignedToRoles=live.assigned_to_roles,
        claimedBy=live.claimed_by,
        claimedAt=_iso(live.claimed_at),
        dueDate=_iso(live.due_date),
        escalatedAt=_iso(live.escalated_at),
        escalatedTo=live.escalated_to,
        completedBy=live.completed_by,
        completedAt=_iso(live.completed_at),
        comments=live.comments,
        priority=live.priority,
        tenantId=str(row.tenant_id),
        organizationId=str(row.organization_id) if row.organization_id else None,
        createdAt=_iso(row.created_at) or "",
        updatedAt=_iso(row.updated_at) or "",
    )


def task_comment(event: WorkflowEventRow) -> TaskComment:
    data = event.event_data or {}
    return TaskComment(
        id=str(event.id),
        taskId=str(data.get("taskId")),
        author=data.get("actor"),
        text=str(data.get("text") or ""),
        createdAt=_iso(event.occurred_at) or "",
    )
