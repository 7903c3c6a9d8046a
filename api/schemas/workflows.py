"""Response models of the workflow routes. Timestamps are strings because the service already
formats them (`2025-12-08T10:00:00.000Z`, UTC with milliseconds); a `datetime` field would
re-serialize them differently. Field order is the order of the keys on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import Body, Success


class WorkflowDefinition(Body):
    id: str
    workflowId: str
    workflowName: str
    description: str | None
    version: int
    definition: dict[str, Any] = Field(
        description="Steps and transitions; format: `GET /api/workflows/definitions/schema`"
    )
    metadata: dict[str, Any] | None
    enabled: bool
    effectiveFrom: str | None
    effectiveTo: str | None
    tenantId: str
    organizationId: str | None
    createdBy: str | None
    updatedBy: str | None
    createdAt: str
    updatedAt: str


class WorkflowInstance(Body):
    id: str
    definitionId: str
    workflowId: str
    version: int = Field(description="The definition version the instance is pinned to")
    status: str
    currentStepId: str | None
    previousStepId: str | None
    context: dict[str, Any]
    correlationKey: str | None
    metadata: dict[str, Any] | None
    startedAt: str | None
    completedAt: str | None
    pausedAt: str | None
    cancelledAt: str | None
    errorMessage: str | None
    errorDetails: dict[str, Any] | None
    pendingTransition: dict[str, Any] | None
    activeForkStepId: str | None
    retryCount: int
    parentInstanceId: str | None
    tenantId: str
    organizationId: str | None
    createdAt: str
    updatedAt: str


class Execution(Body):
    status: str
    currentStep: str | None


class StartedExecution(Execution):
    message: str


class InstanceStarted(Body):
    instance: WorkflowInstance
    execution: StartedExecution


class InstanceRetried(Body):
    instance: WorkflowInstance
    execution: Execution


class AdvancedInstance(Body):
    """The instance as its workflow answered the advance."""

    id: str
    status: str
    currentStepId: str | None
    previousStepId: str | None
    transitionFired: str | None
    context: dict[str, Any]


class InstanceAdvanced(Body):
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


class WorkflowEvent(Body):
    id: str
    workflowInstanceId: str
    stepInstanceId: str | None
    branchKey: str | None
    eventType: str
    eventData: dict[str, Any]
    occurredAt: str
    userId: str | None
    tenantId: str
    organizationId: str | None


class EventInstanceSummary(Body):
    id: str
    workflowId: str
    workflowName: str
    status: str


class ListedWorkflowEvent(WorkflowEvent):
    workflowInstance: EventInstanceSummary


class EventInstance(Body):
    id: str
    workflowId: str
    version: int
    status: str
    currentStepId: str | None
    correlationKey: str | None
    startedAt: str | None
    completedAt: str | None
    context: dict[str, Any]


class WorkflowEventDetail(WorkflowEvent):
    workflowInstance: EventInstance


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
