"""Response models of the business-rules routes (api/business_rules.py), built from the rows the
service returns (`Model.of(row)`); the request bodies are the models of engine/rules/schemas.py,
parsed by the router.

Timestamps are ISO 8601 strings in the contract's format (engine.clock.iso). Fields are declared
in the contract's key order; where a field must come before the ones it shares with another model,
that model lists the shared fields' class *first* among its bases (pydantic places the fields of
later bases first)."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import WithJsonSchema

from api.schemas.common import Body
from engine.clock import iso, iso_or_none
from engine.db.models import BusinessRuleRow, RuleExecutionLogRow, RuleSetMemberRow, RuleSetRow

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

    @classmethod
    def of(cls, row: BusinessRuleRow) -> Self:
        return cls(**_summary(row))


def _summary(row: BusinessRuleRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "ruleId": row.rule_id,
        "ruleName": row.rule_name,
        "description": row.description,
        "ruleType": row.rule_type,
        "ruleCategory": row.rule_category,
        "entityType": row.entity_type,
        "eventType": row.event_type,
        "enabled": row.enabled,
        "priority": row.priority,
        "version": row.version,
        "effectiveFrom": iso_or_none(row.effective_from),
        "effectiveTo": iso_or_none(row.effective_to),
        "tenantId": str(row.tenant_id),
        "organizationId": _str_or_none(row.organization_id),
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }


def _str_or_none(value: object | None) -> str | None:
    return str(value) if value is not None else None


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

    @classmethod
    def of(cls, row: BusinessRuleRow) -> Self:
        return cls(
            **_summary(row),
            conditionExpression=row.condition_expression,
            conditionDialect=row.condition_dialect,
            conditionLogic=row.condition_logic,
            successActions=row.success_actions,
            failureActions=row.failure_actions,
            createdBy=row.created_by,
            updatedBy=row.updated_by,
        )


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

    @classmethod
    def of(cls, row: RuleSetRow) -> Self:
        return cls(**_set_fields(row))


def _set_fields(row: RuleSetRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "setId": row.set_id,
        "setName": row.set_name,
        "description": row.description,
        "enabled": row.enabled,
        "tenantId": str(row.tenant_id),
        "organizationId": _str_or_none(row.organization_id),
        "createdBy": row.created_by,
        "updatedBy": row.updated_by,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }


class RuleSetMember(Body):
    """`ruleId` is the rule's UUID, `ruleKey` its string ruleId."""

    id: str
    ruleId: str
    ruleKey: str
    ruleName: str
    ruleType: str
    sequence: int
    enabled: bool

    @classmethod
    def of(cls, member: RuleSetMemberRow, rule: BusinessRuleRow) -> Self:
        return cls(
            id=str(member.id),
            ruleId=str(rule.id),
            ruleKey=rule.rule_id,
            ruleName=rule.rule_name,
            ruleType=rule.rule_type,
            sequence=member.sequence,
            enabled=member.enabled,
        )


class RuleSetDetail(RuleSet):
    members: list[RuleSetMember]

    @classmethod
    def with_members(cls, row: RuleSetRow, members: list[tuple[RuleSetMemberRow, BusinessRuleRow]]) -> Self:
        return cls(**_set_fields(row), members=[RuleSetMember.of(member, rule) for member, rule in members])


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


def _log_fields(row: RuleExecutionLogRow) -> dict[str, Any]:
    return {
        "entityId": row.entity_id,
        "entityType": row.entity_type,
        "executionResult": row.execution_result,
        "inputContext": row.input_context,
        "outputContext": row.output_context,
        "errorMessage": row.error_message,
        "executionTimeMs": row.execution_time_ms,
        "executedAt": iso(row.executed_at),
        "tenantId": str(row.tenant_id),
        "organizationId": _str_or_none(row.organization_id),
        "executedBy": row.executed_by,
    }


class _LogRuleColumns(Body):
    id: str
    ruleId: str
    ruleName: str
    ruleType: str


class ExecutionLog(_LogFields, _LogRuleColumns):
    """A log entry as lists show it: `id` is the log's number, `ruleId` the rule's UUID;
    `executionResult` is SUCCESS, FAILURE or ERROR."""

    @classmethod
    def of(cls, row: RuleExecutionLogRow, rule: BusinessRuleRow) -> Self:
        return cls(
            id=str(row.id),
            ruleId=str(row.rule_id),
            ruleName=rule.rule_name,
            ruleType=rule.rule_type,
            **_log_fields(row),
        )


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

    @classmethod
    def of(cls, row: RuleExecutionLogRow, rule: BusinessRuleRow) -> Self:
        return cls(
            id=str(row.id),
            rule=LogRule(
                id=str(rule.id),
                ruleId=rule.rule_id,
                ruleName=rule.rule_name,
                ruleType=rule.rule_type,
                entityType=rule.entity_type,
            ),
            **_log_fields(row),
        )
