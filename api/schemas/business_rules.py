"""Response models of the business-rules routes (api/business_rules.py), read from the rows the
service returns (`Rule.model_validate(row)`: `from_attributes`, each camelCase field read from its
snake_case attribute, UUIDs as strings, timestamps in the contract's format). The request bodies
are the models of engine/rules/schemas.py, parsed by the router.

Timestamps are ISO 8601 strings in the contract's format (engine.clock.iso). Fields are declared
in the contract's key order; where a field must come before the ones it shares with another model,
that model lists the shared fields' class *first* among its bases (pydantic places the fields of
later bases first)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AliasChoices, AliasGenerator, BeforeValidator, ConfigDict, WithJsonSchema
from pydantic.alias_generators import to_snake

from api.schemas.common import Body
from engine.clock import iso
from engine.db.models import BusinessRuleRow, RuleExecutionLogRow, RuleSetMemberRow, RuleSetRow

# Durations are rounded floats, but an integer the service returns (`0` when nothing ran) stays
# an integer in the JSON, which `float` would turn into `0.0`.
Milliseconds = Annotated[int | float, WithJsonSchema({"type": "number"})]


def _as_text(value: Any) -> Any:
    """A row's UUIDs as strings and its timestamps in the contract's format (engine.clock.iso)."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_as_text)]
OptionalText = Annotated[str | None, BeforeValidator(_as_text)]


class FromRow(Body):
    """A response model read from an ORM row: `ruleId` from `rule_id` (the camelCase name is
    accepted too, so the contract's examples validate)."""

    model_config = ConfigDict(
        from_attributes=True,
        alias_generator=AliasGenerator(validation_alias=lambda name: AliasChoices(name, to_snake(name))),
    )


# ---------------------------------------------------------------- rules


class RuleSummary(FromRow):
    """A rule as lists show it."""

    id: Text
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
    effectiveFrom: OptionalText
    effectiveTo: OptionalText
    tenantId: Text
    organizationId: OptionalText
    createdAt: Text
    updatedAt: Text


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


class RuleSet(FromRow):
    id: Text
    setId: str
    setName: str
    description: str | None
    enabled: bool
    tenantId: Text
    organizationId: OptionalText
    createdBy: str | None
    updatedBy: str | None
    createdAt: Text
    updatedAt: Text


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
        members_of = [RuleSetMember.of(member, rule) for member, rule in members]
        return cls(**dict(RuleSet.model_validate(row)), members=members_of)


# ---------------------------------------------------------------- logs


class _LogFields(FromRow):
    entityId: str
    entityType: str
    executionResult: str
    inputContext: dict[str, Any] | None
    outputContext: dict[str, Any] | None
    errorMessage: str | None
    executionTimeMs: int
    executedAt: Text
    tenantId: Text
    organizationId: OptionalText
    executedBy: str | None


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
            **dict(_LogFields.model_validate(row)),
        )


class LogRule(FromRow):
    """The rule a log entry belongs to; `id` is its UUID, `ruleId` its key."""

    id: Text
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
            rule=LogRule.model_validate(rule),
            **dict(_LogFields.model_validate(row)),
        )
