"""Response models of the business-rules routes (api/business_rules.py).

Timestamps are ISO 8601 strings as the service formats them. Fields are declared in the order the
service builds its answers, so the JSON keeps its key order; where a field must come before the
ones it shares with another model, that model lists the shared fields' class *first* among its
bases (pydantic places the fields of later bases first)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import WithJsonSchema

from api.schemas.common import Body

# Durations are rounded floats, but an integer the service returns (`0` when nothing ran) stays
# an integer in the JSON, which `float` would turn into `0.0`.
Milliseconds = Annotated[int | float, WithJsonSchema({"type": "number"})]


# ---------------------------------------------------------------- rules


class RuleSummary(Body):
    """A rule as lists show it."""

    id: str
    ruleId: str
    ruleName: str
    description: str | None
    ruleType: str
    ruleCategory: str | None
    entityType: str
    eventType: str | None
    enabled: bool
    priority: int
    version: int
    effectiveFrom: str | None
    effectiveTo: str | None
    tenantId: str
    organizationId: str | None
    createdAt: str
    updatedAt: str


class Rule(RuleSummary):
    """`conditionExpression` is returned exactly as given, in `conditionDialect` (`jsonlogic` or
    `condition_tree`); `conditionLogic` is the JsonLogic the engine evaluates."""

    conditionExpression: Any
    conditionDialect: str | None
    conditionLogic: Any
    successActions: list[Any] | None
    failureActions: list[Any] | None
    createdBy: str | None
    updatedBy: str | None


# ---------------------------------------------------------------- execution


class ActionResult(Body):
    """One action's outcome: `result` when it succeeded, `error` when it failed."""

    type: str
    result: dict[str, Any] | None = None
    success: bool
    error: str | None = None
    executionTime: Milliseconds


class ActionsExecuted(Body):
    success: bool
    results: list[ActionResult]


class RuleMessage(Body):
    """A SHOW_ERROR / SHOW_WARNING / SHOW_INFO message (`severity` error, warning or info)."""

    ruleId: str
    severity: str
    message: str


class ExecutedRule(Body):
    ruleId: str
    ruleName: str
    ruleType: str
    conditionResult: bool
    actionsExecuted: ActionsExecuted | None
    executionTime: Milliseconds
    error: str | None = None
    logId: str | None = None


class RuleExecution(Body):
    """`logIds` is absent on dry runs and when no rule ran; `errors` when there are none."""

    allowed: bool
    executedRules: list[ExecutedRule]
    totalExecutionTime: Milliseconds
    output: dict[str, Any]
    messages: list[RuleMessage]
    logIds: list[str] | None = None
    errors: list[str] | None = None


class _SetKey(Body):
    setId: str


class RuleSetExecution(RuleExecution, _SetKey):
    """The answer of `POST /business_rules/execute` preceded by the set's `setId`."""


class SingleRuleExecution(Body):
    """A rule that could not run (disabled, outside its window) answers `success: false` with
    `error` and without `allowed`, `output`, `messages`."""

    success: bool
    ruleId: str
    ruleName: str
    conditionResult: bool
    actionsExecuted: ActionsExecuted | None
    executionTime: Milliseconds
    allowed: bool | None = None
    output: dict[str, Any] | None = None
    messages: list[RuleMessage] | None = None
    error: str | None = None
    logId: str | None = None


# ---------------------------------------------------------------- rule sets


class RuleSet(Body):
    id: str
    setId: str
    setName: str
    description: str | None
    enabled: bool
    tenantId: str
    organizationId: str | None
    createdBy: str | None
    updatedBy: str | None
    createdAt: str
    updatedAt: str


class RuleSetMember(Body):
    """`ruleId` is the rule's UUID, `ruleKey` its string ruleId."""

    id: str
    ruleId: str
    ruleKey: str
    ruleName: str
    ruleType: str
    sequence: int
    enabled: bool


class RuleSetDetail(RuleSet):
    members: list[RuleSetMember]


# ---------------------------------------------------------------- logs


class _LogFields(Body):
    entityId: str
    entityType: str
    executionResult: str
    inputContext: dict[str, Any] | None
    outputContext: dict[str, Any] | None
    errorMessage: str | None
    executionTimeMs: int
    executedAt: str
    tenantId: str
    organizationId: str | None
    executedBy: str | None


class _LogRuleColumns(Body):
    id: str
    ruleId: str
    ruleName: str
    ruleType: str


class ExecutionLog(_LogFields, _LogRuleColumns):
    """A log entry as lists show it: `id` is the log's number, `ruleId` the rule's UUID;
    `executionResult` is SUCCESS, FAILURE or ERROR."""


class LogRule(Body):
    """The rule a log entry belongs to; `id` is its UUID, `ruleId` its key."""

    id: str
    ruleId: str
    ruleName: str
    ruleType: str
    entityType: str


class _LogHead(Body):
    id: str
    rule: LogRule


class ExecutionLogDetail(_LogFields, _LogHead):
    """A log entry with its rule; `executionResult` is SUCCESS, FAILURE or ERROR."""
