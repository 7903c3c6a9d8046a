"""Typed contracts between the API, the interpreter workflow and its activities (one input and
one output model per workflow, update and activity). HTTP schemas live in api/."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from engine.rules.pinned import RuleSnapshot  # the rules domain owns it; workflow inputs carry it

__all__ = ["RuleSnapshot"]

# Instance statuses (reference §2.10).
RUNNING = "RUNNING"
PAUSED = "PAUSED"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
COMPENSATING = "COMPENSATING"
COMPENSATED = "COMPENSATED"
WAITING_FOR_ACTIVITIES = "WAITING_FOR_ACTIVITIES"
FORKED = "FORKED"
TERMINAL_STATUSES = frozenset({COMPLETED, CANCELLED, COMPENSATED})
CANCELLABLE_STATUSES = frozenset({RUNNING, PAUSED, WAITING_FOR_ACTIVITIES, FORKED})
# Instances that count against a trigger's maxConcurrentInstances.
ACTIVE_STATUSES = (RUNNING, PAUSED, WAITING_FOR_ACTIVITIES, FORKED, COMPENSATING)


class InstanceHeader(BaseModel):
    """What never changes over an instance's life."""

    instance_id: uuid.UUID
    tenant_id: uuid.UUID
    organization_id: uuid.UUID | None = None
    definition_id: uuid.UUID
    workflow_id: str
    version: int
    correlation_key: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    parent_instance_id: uuid.UUID | None = None


class ResumeState(BaseModel):
    """What a continued run needs: taken between two steps of the root token, when no wait,
    branch, child or command is in progress."""

    seq: int
    status: str
    step_id: str
    previous_step_id: str | None = None
    resume_after_step: bool = False
    retry_count: int = 0
    started_at: datetime | None = None
    paused_at: datetime | None = None
    compensable: list[dict[str, Any]] = Field(default_factory=list)
    runs: int = 1


class InstanceStart(BaseModel):
    header: InstanceHeader
    definition: dict[str, Any]  # the pinned snapshot
    context: dict[str, Any] = Field(default_factory=dict)
    initiated_by: str | None = None
    rules: dict[str, RuleSnapshot] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)  # allow-listed `{{env.X}}` values
    task_queue: str = ""
    # Continue-as-new once this run's history has this many events (Temporal also suggests it).
    history_limit: int = 5000
    # Set when this run continues an earlier one (continue-as-new): the state to resume from.
    resume: ResumeState | None = None


class InstanceResult(BaseModel):
    status: str
    context: dict[str, Any]
    error: str | None = None


# ---------------------------------------------------------------- updates


class SignalRequest(BaseModel):
    signal_name: str
    payload: dict[str, Any] | None = None
    user_id: str | None = None


class SignalResult(BaseModel):
    success: bool = True
    branch_key: str | None = None


class TaskCommand(BaseModel):
    task_id: uuid.UUID
    user_id: str | None = None
    user_roles: list[str] = Field(default_factory=list)
    form_data: dict[str, Any] = Field(default_factory=dict)
    comments: str | None = None
    # Holder of `workflows.tasks.manage` (see engine.workflows.tasks for the permission matrix).
    manager: bool = False
    idempotency_key: str | None = None


class TaskChange(TaskCommand):
    """Release, reassign, change (PATCH) or comment on a task. For a change, a field left None
    keeps its value; `clear_due_date` / an empty role list clear."""

    assigned_to: str | None = None
    assigned_to_roles: list[str] | None = None
    due_date: datetime | None = None
    clear_due_date: bool = False
    priority: int | None = None
    text: str | None = None


class TaskView(BaseModel):
    task: dict[str, Any]


class AdvanceRequest(BaseModel):
    to_step_id: str | None = None
    trigger_data: dict[str, Any] | None = None
    context_updates: dict[str, Any] | None = None
    user_id: str | None = None


class InstanceView(BaseModel):
    """The instance as the workflow sees it right after a command."""

    id: uuid.UUID
    status: str
    current_step_id: str | None
    previous_step_id: str | None = None
    transition_fired: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    retry_count: int = 0


class CommandRequest(BaseModel):
    user_id: str | None = None


# ---------------------------------------------------------------- projection


class EventOp(BaseModel):
    seq: int
    event_type: str
    data: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime
    step_instance_id: uuid.UUID | None = None
    branch_key: str | None = None
    user_id: str | None = None


class StepOp(BaseModel):
    id: uuid.UUID
    seq: int
    step_id: str
    step_name: str
    step_type: str
    status: str
    branch_key: str | None = None
    input_data: dict[str, Any] | None = None
    output_data: dict[str, Any] | None = None
    error_data: dict[str, Any] | None = None
    entered_at: datetime | None = None
    exited_at: datetime | None = None
    execution_time_ms: int | None = None
    retry_count: int = 0


class TaskOp(BaseModel):
    id: uuid.UUID
    seq: int
    step_instance_id: uuid.UUID | None = None
    branch_key: str | None = None
    task_name: str
    description: str | None = None
    status: str
    form_schema: dict[str, Any] | None = None
    form_data: dict[str, Any] | None = None
    assigned_to: str | None = None
    assigned_to_roles: list[str] | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    due_date: datetime | None = None
    completed_by: str | None = None
    completed_at: datetime | None = None
    comments: str | None = None
    created_at: datetime | None = None
    priority: int | None = None
    escalated_at: datetime | None = None
    escalated_to: str | None = None
    completion_key: str | None = None


class InstanceStateOp(BaseModel):
    seq: int
    status: str
    current_step_id: str | None
    previous_step_id: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    error_message: str | None = None
    error_details: dict[str, Any] | None = None
    pending_transition: dict[str, Any] | None = None
    active_fork_step_id: str | None = None
    retry_count: int = 0
    started_at: datetime | None = None
    paused_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None


class ProjectionBatch(BaseModel):
    header: InstanceHeader
    state: InstanceStateOp | None = None
    events: list[EventOp] = Field(default_factory=list)
    steps: list[StepOp] = Field(default_factory=list)
    tasks: list[TaskOp] = Field(default_factory=list)
    # Business-rule evaluations done inside the workflow, for the rules' execution log; each has
    # a `seq` so a replayed write is recorded once.
    rule_logs: list[dict[str, Any]] = Field(default_factory=list)


# ---------------------------------------------------------------- side-effect activities


class ActivityRequest(BaseModel):
    """One definition activity to run. `idempotency_key` is derived from instance, position and
    attempt, so a Temporal retry (or a replay after a crash) carries the same key."""

    activity_type: str
    activity_name: str
    config: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str
    instance_id: uuid.UUID
    workflow_id: str
    tenant_id: uuid.UUID
    organization_id: uuid.UUID | None = None
    initiated_by: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)


class ActivityResult(BaseModel):
    output: dict[str, Any] = Field(default_factory=dict)
    finished_at: datetime | None = None  # the activity's real end (the interpreter's stamps use it)


class DefinitionRequest(BaseModel):
    tenant_id: uuid.UUID
    workflow_id: str
    version: int | None = None


class DefinitionSnapshot(BaseModel):
    definition_id: uuid.UUID
    workflow_id: str
    version: int
    definition: dict[str, Any]
    rules: dict[str, RuleSnapshot] = Field(default_factory=dict)
