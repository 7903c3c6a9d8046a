"""Response models of the workflow routes, read from the rows (`WorkflowInstance.of(row)`):
snake_case fields named as the row's attributes, camelCase on the wire, ids and timestamps as the
contract writes them (`2025-12-08T10:00:00.000Z`, UTC with milliseconds). Field order is the order
of the keys on the wire. `UserTask` (built by `api.schemas.tasks.user_task`) is the task inbox's."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field

from api.schemas.common import Body, Id, Input, RowBody, Success, Timestamp
from engine.clock import now
from engine.db.models import WorkflowDefinitionRow, WorkflowEventRow, WorkflowInstanceRow
from engine.workflows.checker import ValidationFailed, check_document
from engine.workflows.definition import DefinitionFields
from engine.workflows.schemas import InstanceView

# ---------------------------------------------------------------- request bodies

UPDATABLE = (
    "workflowName",
    "description",
    "version",
    "definition",
    "metadata",
    "enabled",
    "effectiveFrom",
    "effectiveTo",
)
CLEARED_BY_NULL = ("metadata", "description", "effectiveFrom", "effectiveTo")


def changed_definition(row: WorkflowDefinitionRow, changes: dict[str, Any]) -> DefinitionFields:
    """A PUT body: the stored document with the changes laid over it, checked whole. Only the
    UPDATABLE fields change (another key is refused; `workflowId` and `id` are ignored); null
    clears description, metadata and the effective dates."""
    unknown = sorted(set(changes) - set(UPDATABLE) - {"workflowId", "id"})
    if unknown:
        raise ValidationFailed(
            [{"code": "unrecognized_keys", "message": f"Unknown field '{k}'", "path": k} for k in unknown]
        )
    stored = WorkflowDefinition.of(row).model_dump(by_alias=True)
    document = {key: stored[key] for key in UPDATABLE} | {k: v for k, v in changes.items() if k in UPDATABLE}
    document = {k: v for k, v in document.items() if not (k in CLEARED_BY_NULL and v is None)}
    return check_document({**document, "workflowId": row.workflow_id}, now=now())


class StartBody(Input):
    workflow_id: str = Field(alias="workflowId", min_length=1)
    version: int | None = Field(default=None, ge=1)
    correlation_key: str | None = Field(default=None, alias="correlationKey", max_length=255)
    initial_context: dict[str, Any] = Field(default_factory=dict, alias="initialContext")
    metadata: dict[str, Any] = Field(default_factory=dict)


class ValidateStartBody(Input):
    workflow_id: str = Field(alias="workflowId", min_length=1)
    version: int | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    locale: str = "en"


class AdvanceBody(Input):
    to_step_id: str | None = Field(default=None, alias="toStepId")
    trigger_data: dict[str, Any] | None = Field(default=None, alias="triggerData")
    context_updates: dict[str, Any] | None = Field(default=None, alias="contextUpdates")


class SignalBody(Input):
    signal_name: str = Field(alias="signalName", min_length=1)
    payload: dict[str, Any] | None = None


class CorrelationSignalBody(SignalBody):
    correlation_key: str = Field(alias="correlationKey", min_length=1)


# ---------------------------------------------------------------- answers


class WorkflowDefinition(RowBody):
    id: Id
    workflow_id: str
    workflow_name: str
    description: str | None
    version: int
    definition: dict[str, Any] = Field(
        description="Steps and transitions; format: `GET /api/workflows/definitions/schema`"
    )
    metadata_: dict[str, Any] | None = Field(alias="metadata")  # SQLAlchemy reserves `metadata`
    enabled: bool
    effective_from: Timestamp | None
    effective_to: Timestamp | None
    tenant_id: Id
    organization_id: Id | None
    created_by: str | None
    updated_by: str | None
    created_at: Timestamp
    updated_at: Timestamp


class WorkflowInstance(RowBody):
    id: Id
    definition_id: Id
    workflow_id: str
    version: int = Field(description="The definition version the instance is pinned to")
    status: str
    current_step_id: str | None
    previous_step_id: str | None
    context: dict[str, Any]
    correlation_key: str | None
    metadata_: dict[str, Any] | None = Field(alias="metadata")  # SQLAlchemy reserves `metadata`
    started_at: Timestamp | None
    completed_at: Timestamp | None
    paused_at: Timestamp | None
    cancelled_at: Timestamp | None
    error_message: str | None
    error_details: dict[str, Any] | None
    pending_transition: dict[str, Any] | None
    active_fork_step_id: str | None
    retry_count: int
    parent_instance_id: Id | None
    tenant_id: Id
    organization_id: Id | None
    created_at: Timestamp
    updated_at: Timestamp


class Execution(RowBody):
    status: str
    current_step: str | None

    @classmethod
    def of(cls, row: WorkflowInstanceRow | InstanceView) -> Self:
        return cls(status=row.status, current_step=row.current_step_id)


class StartedExecution(Execution):
    message: str


class InstanceStarted(RowBody):
    instance: WorkflowInstance
    execution: StartedExecution

    @classmethod
    def of(cls, row: WorkflowInstanceRow) -> Self:
        execution = StartedExecution(
            status=row.status, current_step=row.current_step_id, message="Workflow execution started in background"
        )
        return cls(instance=WorkflowInstance.of(row), execution=execution)


class InstanceRetried(RowBody):
    instance: WorkflowInstance
    execution: Execution


class AdvancedInstance(RowBody):
    """The instance as its workflow answered the advance (`InstanceView`)."""

    id: Id
    status: str
    current_step_id: str | None
    previous_step_id: str | None
    transition_fired: str | None
    context: dict[str, Any]


class InstanceAdvanced(RowBody):
    instance: AdvancedInstance


class StartCheckError(Body):
    ruleId: str
    message: str
    code: str


class StartCheck(Body):
    canStart: bool
    workflowId: str
    errors: list[StartCheckError] = Field(default_factory=list, description="Absent when the instance can start")


class SignalSent(Success):
    message: str


class SignalsSent(SignalSent):
    count: int = Field(description="How many waiting instances the signal resumed")


class WorkflowEvent(RowBody):
    id: Id
    workflow_instance_id: Id
    step_instance_id: Id | None
    branch_key: str | None
    event_type: str
    event_data: dict[str, Any]
    occurred_at: Timestamp
    user_id: str | None
    tenant_id: Id
    organization_id: Id | None


class EventInstanceSummary(RowBody):
    id: Id
    workflow_id: str
    workflow_name: str = Field(description="The workflowId (instances do not copy the definition's name)")
    status: str


class ListedWorkflowEvent(WorkflowEvent):
    workflow_instance: EventInstanceSummary

    @classmethod
    def with_instance(cls, event: WorkflowEventRow, instance: WorkflowInstanceRow) -> ListedWorkflowEvent:
        summary = EventInstanceSummary(
            id=str(instance.id),
            workflow_id=instance.workflow_id,
            workflow_name=instance.workflow_id,
            status=instance.status,
        )
        return cls(**dict(WorkflowEvent.of(event)), workflow_instance=summary)


class EventInstance(RowBody):
    id: Id
    workflow_id: str
    version: int
    status: str
    current_step_id: str | None
    correlation_key: str | None
    started_at: Timestamp | None
    completed_at: Timestamp | None
    context: dict[str, Any]


class WorkflowEventDetail(WorkflowEvent):
    workflow_instance: EventInstance

    @classmethod
    def with_instance(cls, event: WorkflowEventRow, instance: WorkflowInstanceRow) -> WorkflowEventDetail:
        return cls(**dict(WorkflowEvent.of(event)), workflow_instance=EventInstance.of(instance))


class UserTask(Body):
    id: str
    workflowInstanceId: str
    stepInstanceId: str | None
    branchKey: str | None
    taskName: str
    description: str | None
    status: str
    formSchema: dict[str, Any] | None
    formData: dict[str, Any] | None
    assignedTo: str | None
    assignedToRoles: list[str] | None
    claimedBy: str | None
    claimedAt: str | None
    dueDate: str | None
    escalatedAt: str | None
    escalatedTo: str | None
    completedBy: str | None
    completedAt: str | None
    comments: str | None
    priority: int | None = Field(None, description="0-100; new tasks get 50")
    tenantId: str
    organizationId: str | None
    createdAt: str
    updatedAt: str
