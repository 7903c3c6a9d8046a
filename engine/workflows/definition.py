"""Workflow definition format: the pydantic models of the contract's camelCase JSON (snake_case
attributes) and its JSON Schema. The save-time checks live in `engine.workflows.checker`.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class StepType(StrEnum):
    START = "START"
    END = "END"
    AUTOMATED = "AUTOMATED"
    USER_TASK = "USER_TASK"
    WAIT_FOR_SIGNAL = "WAIT_FOR_SIGNAL"
    WAIT_FOR_TIMER = "WAIT_FOR_TIMER"
    SUB_WORKFLOW = "SUB_WORKFLOW"
    PARALLEL_FORK = "PARALLEL_FORK"
    PARALLEL_JOIN = "PARALLEL_JOIN"


class TransitionTrigger(StrEnum):
    AUTO = "auto"
    MANUAL = "manual"
    SIGNAL = "signal"
    TIMER = "timer"


class ActivityType(StrEnum):
    SEND_EMAIL = "SEND_EMAIL"
    CALL_API = "CALL_API"
    CALL_WEBHOOK = "CALL_WEBHOOK"
    EMIT_EVENT = "EMIT_EVENT"
    UPDATE_ENTITY = "UPDATE_ENTITY"
    EXECUTE_FUNCTION = "EXECUTE_FUNCTION"
    WAIT = "WAIT"


Slug = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_-]+$")]
StepRef = Annotated[str, Field(min_length=1, max_length=100)]
Priority = Annotated[int, Field(ge=0, le=9999)]
DurationText = Annotated[
    str, Field(description="ISO 8601 duration (PT5M, P1DT2H, P2W) or short form (500ms, 30s, 5m, 1h, 3d)")
]


class _Model(BaseModel):
    # camelCase on the wire, snake_case in Python. Unknown keys (editor layout data, fields from
    # newer clients) are kept so they round-trip; they are not validation errors.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, extra="allow")


class RetryPolicy(_Model):
    """Steps use ``{maxAttempts, backoffMs}``; activities use the exponential fields."""

    max_attempts: int = Field(1, ge=1, le=10)
    backoff_ms: int | None = Field(None, ge=0, description="Fixed wait between attempts (step form)")
    initial_interval_ms: int | None = Field(None, ge=0)
    backoff_coefficient: float | None = Field(None, ge=1, le=10)
    max_interval_ms: int | None = Field(None, ge=0)


class ConditionRef(_Model):
    """A business rule, by its string ``ruleId``, that gates a transition or the start."""

    rule_id: str = Field(min_length=1, max_length=50)
    required: bool = True
    validation_message: dict[str, str] | None = None


class Compensation(_Model):
    activity_id: str = Field(min_length=1, description="activityId of the activity that undoes this one")
    automatic: bool = True


class Activity(_Model):
    activity_id: Slug | None = None
    activity_name: str = Field(min_length=1, max_length=255)
    activity_type: ActivityType
    config: dict[str, Any] = Field(default_factory=dict, description="Per-type settings; see the docs")
    async_: bool = Field(False, alias="async")
    retry_policy: RetryPolicy | None = None
    timeout: DurationText | None = None
    compensation: Compensation | None = None


class EscalationRule(_Model):
    """Acted on by durable timers in the instance's workflow (engine.workflows.tasks
    `escalation_plan`): `sla_breach` fires `after` (default 0) past the due date, `no_progress`
    fires `after` past the task's creation if it is still open. `reassign` hands the task to
    `escalateTo` (a user id) and/or `escalateToRoles`; `notify` tells `notifyUsers` and the members
    of `notifyRoles`; `escalate` marks it ESCALATED and raises its priority."""

    trigger: Literal["sla_breach", "no_progress", "custom"]
    action: Literal["reassign", "notify", "escalate"]
    escalate_to: str | None = None
    notify_users: list[str] | None = None
    after: DurationText | None = None
    escalate_to_roles: list[str] | None = None
    notify_roles: list[str] | None = None


class UserTaskConfig(_Model):
    form_schema: dict[str, Any] | None = None
    assigned_to: str | list[str] | None = Field(None, description="A user id, or a list of role names (a role queue)")
    assigned_to_roles: list[str] | None = None
    assignment_rule: str | None = None
    sla_duration: DurationText | None = None
    escalation_rules: list[EscalationRule] = Field(default_factory=list)

    @field_validator("assigned_to", mode="before")
    @classmethod
    def _one_error_for_assigned_to(cls, value: object) -> object:
        # Without this pydantic reports one error per union member, at confusing paths.
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise ValueError("assignedTo must be a string or a list of strings")


class SignalConfig(_Model):
    signal_name: str = Field(min_length=1)
    timeout: DurationText | None = None


class SubWorkflowConfig(_Model):
    sub_workflow_id: str = Field(min_length=1)
    version: int | None = Field(None, ge=1)
    input_mapping: dict[str, str] | None = None
    output_mapping: dict[str, str] | None = None
    timeout_ms: int | None = Field(None, ge=0)


class Step(_Model):
    step_id: Slug
    step_name: str = Field(min_length=1, max_length=255)
    step_type: StepType
    description: str | None = Field(None, max_length=1000)
    config: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "WAIT_FOR_TIMER: duration | until; PARALLEL_FORK: joinStepId; PARALLEL_JOIN: forkStepId, "
            "outputMapping; SUB_WORKFLOW: subWorkflowId, version, inputMapping, outputMapping"
        ),
    )
    user_task_config: UserTaskConfig | None = None
    signal_config: SignalConfig | None = None
    sub_workflow_config: SubWorkflowConfig | None = None
    activities: list[Activity] = Field(default_factory=list)
    timeout: DurationText | None = None
    retry_policy: RetryPolicy | None = None
    pre_conditions: list[ConditionRef] = Field(default_factory=list)


class Transition(_Model):
    transition_id: Slug
    from_step_id: StepRef
    to_step_id: StepRef
    transition_name: str | None = Field(None, max_length=255)
    trigger: TransitionTrigger = TransitionTrigger.AUTO
    priority: Priority = Field(0, description="Higher wins; ties keep definition order")
    condition: Any = Field(None, description="Inline JsonLogic rule over the workflow context")
    pre_conditions: list[ConditionRef] = Field(default_factory=list)
    post_conditions: list[ConditionRef] = Field(default_factory=list)
    activities: list[Activity] = Field(default_factory=list)
    continue_on_activity_failure: bool = False


FilterOperator = Literal[
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "startsWith",
    "endsWith",
    "in",
    "notIn",
    "exists",
    "notExists",
    "regex",
]


class FilterCondition(_Model):
    field: str = Field(min_length=1, max_length=255, description="Dot path into the event payload")
    operator: FilterOperator
    value: Any = None


class ContextMapping(_Model):
    target_key: str = Field(min_length=1, max_length=100)
    source_expression: str = Field(min_length=1, max_length=255)
    default_value: Any = None


class TriggerConfig(_Model):
    filter_conditions: list[FilterCondition] = Field(default_factory=list, max_length=20)
    context_mapping: list[ContextMapping] = Field(default_factory=list, max_length=50)
    debounce_ms: int | None = Field(None, ge=0, le=3_600_000)
    max_concurrent_instances: int | None = Field(None, ge=1, le=1000)
    entity_type: str | None = None


class WorkflowTrigger(_Model):
    """Starts an instance when a domain event matching ``eventPattern`` passes the filters."""

    trigger_id: Slug
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(None, max_length=2000)
    event_pattern: str = Field(min_length=1, max_length=255, pattern=r"(?i)^(\*|[a-z0-9_]+(\.[a-z0-9_*]+)*)$")
    config: TriggerConfig = Field(default_factory=TriggerConfig)
    enabled: bool = True
    priority: Priority = 0


class WorkflowDefinition(_Model):
    """The ``definition`` object of a workflow definition."""

    steps: list[Step] = Field(json_schema_extra={"minItems": 2})
    transitions: list[Transition] = Field(json_schema_extra={"minItems": 1})
    triggers: list[WorkflowTrigger] = Field(default_factory=list)
    activities: list[Activity] = Field(
        default_factory=list, description="Legacy activity library; compensation may reference it"
    )
    queries: list[Any] | None = None
    signals: list[Any] | None = None
    timers: list[Any] | None = None

    def start_step(self) -> Step:
        """The START step (the checker guarantees exactly one in a saved definition)."""
        for step in self.steps:
            if step.step_type == StepType.START:
                return step
        raise KeyError("The definition has no START step")


class DefinitionMetadata(_Model):
    tags: list[Annotated[str, Field(max_length=50)]] | None = None
    category: str | None = Field(None, max_length=100)
    icon: str | None = Field(None, max_length=100)


class WorkflowDefinitionDocument(_Model):
    """A whole definition as created through the API or shipped in ``definitions/workflows``."""

    workflow_id: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9._-]+$")
    workflow_name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(None, max_length=2000)
    version: int = Field(1, ge=1)
    enabled: bool = True
    definition: WorkflowDefinition
    metadata: DefinitionMetadata | None = None
    effective_from: datetime | None = None
    effective_to: datetime | None = None


class DefinitionFields(BaseModel):
    """A create/update document the checker has accepted (`engine.workflows.checker.check_document`),
    typed; `definition` and `metadata` are kept as given (they are stored as sent)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    workflow_id: str
    workflow_name: str
    definition: dict[str, Any]
    description: str | None = None
    version: int = 1
    metadata: dict[str, Any] | None = None
    enabled: bool = True
    effective_from: datetime | None = None
    effective_to: datetime | None = None


def definition_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the ``definition`` object; graph rules are described, not encoded."""
    schema = WorkflowDefinition.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "Workflow definition",
        "description": (
            "Steps and transitions of a workflow. Beyond this schema the server checks: exactly one "
            "START, at least one END, unique ids, known step references, every step reachable from "
            "START and able to reach an END, PARALLEL_FORK/PARALLEL_JOIN pairing, timer and activity "
            "config per type, and the duration grammar."
        ),
    }
