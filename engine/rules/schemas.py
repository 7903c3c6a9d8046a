"""Business-rule contracts: request bodies (validated here, so every caller gets the same
`Validation failed: <path>: <message>` errors), save-time checks of conditions and actions, and the
typed payloads of the CALL_WEBHOOK workflow. Pure: no database, no I/O."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import DomainError
from engine.inputs import StrictScalars
from engine.rules.jsonlogic import (
    CONDITION_OPERATORS,
    JsonLogicError,
    compile_logic,
    translate_condition_tree,
)

RULE_TYPES: Final = ("GUARD", "VALIDATION", "CALCULATION", "ACTION", "ASSIGNMENT")
ACTION_TYPES: Final = (
    "ALLOW_TRANSITION",
    "BLOCK_TRANSITION",
    "LOG",
    "SHOW_ERROR",
    "SHOW_WARNING",
    "SHOW_INFO",
    "NOTIFY",
    "SET_FIELD",
    "CALL_WEBHOOK",
    "EMIT_EVENT",
)
WEBHOOK_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
LOG_LEVELS: Final = ("debug", "info", "warn", "warning", "error")
SUCCESS, FAILURE, ERROR = "SUCCESS", "FAILURE", "ERROR"
EXECUTION_RESULTS: Final = (SUCCESS, FAILURE, ERROR)

# The dialect a condition was given in; the engine always evaluates JsonLogic.
JSONLOGIC, CONDITION_TREE = "jsonlogic", "condition_tree"
DIALECTS: Final = (JSONLOGIC, CONDITION_TREE)

MAX_ACTIONS: Final = 50
# Reference §3.3 save-time limits of condition trees.
TREE_SAFETY_DEPTH, TREE_SAFETY_RULES, TREE_SAFETY_PATH = 10, 50, 200
TREE_STRUCTURE_DEPTH: Final = 5
_TREE_FIELD = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.\[\]]*$")


class RuleValidationError(DomainError):
    """400 with the reference's message (`Validation failed: path: message, ...`) and the
    problems one by one in `details`."""

    status_code = 400
    code = "validation_failed"

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        text = ", ".join(f"{path}: {message}" if path else message for path, message in problems)
        super().__init__(
            f"Validation failed: {text}",
            extra={"details": [{"path": path, "message": message} for path, message in problems]},
        )


class Camel(StrictScalars):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], body: Any) -> M:
    """Validates a JSON body into `model`, answering 400 with every problem."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = ".".join(str(p) for p in err.get("loc", ()))
            message = str(err.get("msg", "invalid"))
            problems.append((path, message.removeprefix("Value error, ")))
        raise RuleValidationError(problems)


def _utc(value: datetime | None) -> datetime | None:
    """Timestamps without an offset are UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# ---------------------------------------------------------------- rules


class RuleFields(Camel):
    """Every writable field of a rule; tenant, organization and authorship come from the caller
    and are ignored when sent (mass-assignment protection)."""

    rule_id: str | None = Field(default=None, alias="ruleId", min_length=1, max_length=50)
    rule_name: str | None = Field(default=None, alias="ruleName", min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    rule_type: str | None = Field(default=None, alias="ruleType")
    rule_category: str | None = Field(default=None, alias="ruleCategory", max_length=50)
    entity_type: str | None = Field(default=None, alias="entityType", min_length=1, max_length=100)
    event_type: str | None = Field(default=None, alias="eventType", max_length=50)
    condition_expression: Any = Field(
        default=None,
        alias="conditionExpression",
        description="JsonLogic, or the reference's condition tree ({field, operator, value|valueField} "
        "leaves, {operator: AND|OR|NOT, rules} groups), which is translated to JsonLogic on save. "
        "null = always true.",
    )
    condition_dialect: str | None = Field(
        default=None,
        alias="conditionDialect",
        description="`jsonlogic` or `condition_tree`; detected from the expression when omitted.",
    )
    success_actions: list[Any] | None = Field(default=None, alias="successActions")
    failure_actions: list[Any] | None = Field(default=None, alias="failureActions")
    enabled: bool | None = None
    priority: int | None = Field(default=None, ge=0, le=9999)
    version: int | None = Field(default=None, ge=1)
    effective_from: datetime | None = Field(default=None, alias="effectiveFrom")
    effective_to: datetime | None = Field(default=None, alias="effectiveTo")

    @field_validator("rule_type")
    @classmethod
    def _rule_type(cls, value: str | None) -> str | None:
        if value is not None and value not in RULE_TYPES:
            raise ValueError(f"must be one of {', '.join(RULE_TYPES)}")
        return value

    @field_validator("condition_dialect")
    @classmethod
    def _dialect(cls, value: str | None) -> str | None:
        if value is not None and value not in DIALECTS:
            raise ValueError(f"must be one of {', '.join(DIALECTS)}")
        return value

    @field_validator("rule_id", "rule_name", "entity_type")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value is not None else None

    @field_validator("effective_from", "effective_to")
    @classmethod
    def _tz(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class RuleCreate(RuleFields):
    rule_id: str = Field(alias="ruleId", min_length=1, max_length=50)
    rule_name: str = Field(alias="ruleName", min_length=1, max_length=200)
    rule_type: str = Field(alias="ruleType")
    entity_type: str = Field(alias="entityType", min_length=1, max_length=100)
    enabled: bool = True
    priority: int = Field(default=100, ge=0, le=9999)
    version: int = Field(default=1, ge=1)


class RuleUpdate(RuleFields):
    id: uuid.UUID


# Fields that may not be set to null on update.
NON_NULLABLE_RULE_FIELDS: Final = ("rule_id", "rule_name", "rule_type", "entity_type", "enabled", "priority", "version")


# ---------------------------------------------------------------- rule sets


class RuleSetFields(Camel):
    set_id: str | None = Field(default=None, alias="setId", min_length=1, max_length=50)
    set_name: str | None = Field(default=None, alias="setName", min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    enabled: bool | None = None

    @field_validator("set_id", "set_name")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value is not None else None


class RuleSetCreate(RuleSetFields):
    set_id: str = Field(alias="setId", min_length=1, max_length=50)
    set_name: str = Field(alias="setName", min_length=1, max_length=200)
    enabled: bool = True


class RuleSetUpdate(RuleSetFields):
    id: uuid.UUID


class MemberAdd(Camel):
    rule_id: uuid.UUID = Field(alias="ruleId", description="The rule's UUID")
    sequence: int = Field(default=0, ge=0)
    enabled: bool = True


class MemberUpdate(Camel):
    member_id: uuid.UUID = Field(alias="memberId")
    sequence: int | None = Field(default=None, ge=0)
    enabled: bool | None = None


# ---------------------------------------------------------------- execution


class ExecuteRequest(Camel):
    entity_type: str = Field(alias="entityType", min_length=1, max_length=255)
    entity_id: str | None = Field(default=None, alias="entityId", max_length=255)
    event_type: str | None = Field(default=None, alias="eventType", max_length=255)
    data: dict[str, Any] = Field(default_factory=dict)
    dry_run: bool = Field(default=False, alias="dryRun")


class ExecuteByIdRequest(Camel):
    entity_type: str | None = Field(default=None, alias="entityType", max_length=255)
    entity_id: str | None = Field(default=None, alias="entityId", max_length=255)
    event_type: str | None = Field(default=None, alias="eventType", max_length=255)
    data: dict[str, Any] = Field(default_factory=dict)
    dry_run: bool = Field(default=False, alias="dryRun")


class RuleLogEntry(BaseModel):
    """One evaluation to record (e.g. a workflow pre-condition evaluated inside the workflow);
    `write_logs` resolves `rule_id` (the string key) within the tenant and sanitises `data`."""

    tenant_id: uuid.UUID
    organization_id: uuid.UUID | None = None
    rule_id: str
    entity_type: str
    entity_id: str | None = None
    event_type: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    condition_result: bool = False
    error: str | None = None
    actions_executed: list[dict[str, Any]] | None = None
    execution_time_ms: int = 0
    executed_by: str | None = None
    executed_at: datetime | None = None


# ---------------------------------------------------------------- CALL_WEBHOOK (Temporal)


class WebhookRequest(BaseModel):
    url: str
    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    idempotency_key: str
    tenant_id: uuid.UUID
    rule_id: str


class WebhookResult(BaseModel):
    status: int
    status_text: str = ""
    body: Any = None


# ---------------------------------------------------------------- save-time checks


def detect_dialect(expression: Any) -> str:
    """A condition tree is an object with `operator` and `rules` or `field`; a JsonLogic operation
    has exactly one key, so the two never collide."""
    if isinstance(expression, dict) and "operator" in expression and ("rules" in expression or "field" in expression):
        return CONDITION_TREE
    return JSONLOGIC


def _tree_safety(node: Any, depth: int = 1) -> str | None:
    """Reference §3.3 safety limits, checked over the whole tree before its structure."""
    if depth > TREE_SAFETY_DEPTH:
        return f"depth > {TREE_SAFETY_DEPTH}"
    if not isinstance(node, dict):
        return None
    rules = node.get("rules")
    if isinstance(rules, list):
        if len(rules) > TREE_SAFETY_RULES:
            return f"more than {TREE_SAFETY_RULES} rules in a group"
        for child in rules:
            problem = _tree_safety(child, depth + 1)
            if problem:
                return problem
    for key in ("field", "valueField"):
        if isinstance(node.get(key), str) and len(node[key]) > TREE_SAFETY_PATH:
            return f"{key} longer than {TREE_SAFETY_PATH} characters"
    return None


def _tree_problems(node: Any, path: str, depth: int, problems: list[tuple[str, str]]) -> None:
    """Reference §3.3 structure rules (translate_condition_tree checks the semantics)."""
    invalid = "Invalid condition expression structure"
    if depth > TREE_STRUCTURE_DEPTH:
        problems.append((path, f"{invalid} (nested deeper than {TREE_STRUCTURE_DEPTH})"))
        return
    if not isinstance(node, dict):
        problems.append((path, f"{invalid} (expected an object)"))
        return
    if "rules" in node:
        rules = node["rules"]
        if not isinstance(rules, list):
            problems.append((f"{path}.rules", f"{invalid} (rules must be an array)"))
            return
        if node.get("operator") not in ("AND", "OR", "NOT"):
            problems.append((f"{path}.operator", f"{invalid} (operator must be AND, OR or NOT)"))
        if not rules:
            problems.append((f"{path}.rules", f"{invalid} (a group needs at least one rule)"))
        for i, child in enumerate(rules):
            _tree_problems(child, f"{path}.rules.{i}", depth + 1, problems)
        return
    field = node.get("field")
    if not isinstance(field, str) or not _TREE_FIELD.match(field):
        problems.append((f"{path}.field", f"{invalid} (field must be a path like a.b or items[0].qty)"))
    if node.get("operator") not in CONDITION_OPERATORS:
        problems.append((f"{path}.operator", f"{invalid} (unknown operator {node.get('operator')!r})"))
    value_field = node.get("valueField")
    if value_field is not None:
        if not isinstance(value_field, str) or not _TREE_FIELD.match(value_field):
            problems.append((f"{path}.valueField", f"{invalid} (valueField must be a path)"))
    elif "value" not in node and node.get("operator") not in ("IS_EMPTY", "IS_NOT_EMPTY"):
        problems.append((path, f"{invalid} (a condition needs value or valueField)"))


def check_condition(expression: Any, dialect: str | None) -> tuple[str | None, Any]:
    """Validates a condition and returns (dialect, JsonLogic to evaluate). None = always true."""
    if expression is None:
        return None, None
    dialect = dialect or detect_dialect(expression)
    logic = expression
    if dialect == CONDITION_TREE:
        unsafe = _tree_safety(expression)
        if unsafe:
            raise RuleValidationError(
                [("conditionExpression", f"Condition expression exceeds safety limits ({unsafe})")]
            )
        problems: list[tuple[str, str]] = []
        _tree_problems(expression, "conditionExpression", 1, problems)
        if problems:
            raise RuleValidationError(problems)
        try:
            logic = translate_condition_tree(expression)
        except JsonLogicError as exc:
            raise RuleValidationError([("conditionExpression", str(exc))])
    try:
        compile_logic(logic)
    except JsonLogicError as exc:
        raise RuleValidationError([("conditionExpression", str(exc))])
    except (TypeError, ValueError, RecursionError) as exc:
        raise RuleValidationError([("conditionExpression", f"invalid expression: {exc}")])
    return dialect, logic


def _nonempty_str(config: dict[str, Any], key: str) -> bool:
    value = config.get(key)
    return isinstance(value, str) and bool(value.strip())


def _action_problems(action: Any, path: str) -> list[tuple[str, str]]:
    if not isinstance(action, dict):
        return [(path, "must be an object {type, config}")]
    kind = action.get("type")
    if not kind:
        return [(f"{path}.type", "Required")]
    if kind not in ACTION_TYPES:
        return [(f"{path}.type", f"must be one of {', '.join(ACTION_TYPES)}")]
    config = action.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, dict):
        return [(f"{path}.config", "must be an object")]
    problems: list[tuple[str, str]] = []
    cpath = f"{path}.config"
    if kind in ("LOG", "SHOW_ERROR", "SHOW_WARNING", "SHOW_INFO", "NOTIFY") and not _nonempty_str(config, "message"):
        problems.append((f"{cpath}.message", f"{kind} requires a message"))
    if kind == "LOG" and config.get("level") is not None and str(config.get("level")).lower() not in LOG_LEVELS:
        problems.append((f"{cpath}.level", f"must be one of {', '.join(LOG_LEVELS)}"))
    if kind == "NOTIFY":
        recipients = config.get("recipients")
        if (
            not isinstance(recipients, list)
            or not recipients
            or not all(isinstance(r, str) and r.strip() for r in recipients)
        ):
            problems.append((f"{cpath}.recipients", "NOTIFY requires a non-empty array of recipients"))
    if kind == "SET_FIELD":
        if not _nonempty_str(config, "field"):
            problems.append((f"{cpath}.field", "SET_FIELD requires a field"))
        if "valueExpression" in config:
            try:
                compile_logic(config["valueExpression"])
            except JsonLogicError as exc:
                problems.append((f"{cpath}.valueExpression", str(exc)))
        elif "value" not in config:
            problems.append((f"{cpath}.value", "SET_FIELD requires a value (or a JsonLogic valueExpression)"))
    if kind == "CALL_WEBHOOK":
        url = config.get("url")
        if not _nonempty_str(config, "url"):
            problems.append((f"{cpath}.url", "CALL_WEBHOOK requires a url"))
        elif not str(url).startswith(("http://", "https://", "{{")):
            problems.append((f"{cpath}.url", "must be an http(s) URL"))
        method = config.get("method")
        if method is not None and str(method).upper() not in WEBHOOK_METHODS:
            problems.append((f"{cpath}.method", f"must be one of {', '.join(WEBHOOK_METHODS)}"))
        headers = config.get("headers")
        if headers is not None and not isinstance(headers, dict):
            problems.append((f"{cpath}.headers", "must be an object"))
    if kind == "EMIT_EVENT":
        if not (_nonempty_str(config, "eventName") or _nonempty_str(config, "event")):
            problems.append((f"{cpath}.eventName", "EMIT_EVENT requires an eventName"))
        payload = config.get("payload")
        if payload is not None and not isinstance(payload, dict):
            problems.append((f"{cpath}.payload", "must be an object"))
    return problems


def check_actions(actions: list[Any] | None, path: str) -> list[Any] | None:
    if actions is None:
        return None
    if len(actions) > MAX_ACTIONS:
        raise RuleValidationError([(path, f"at most {MAX_ACTIONS} actions")])
    problems: list[tuple[str, str]] = []
    for i, action in enumerate(actions):
        problems.extend(_action_problems(action, f"{path}.{i}"))
    if problems:
        raise RuleValidationError(problems)
    return actions


def check_window(effective_from: datetime | None, effective_to: datetime | None) -> None:
    if effective_from is not None and effective_to is not None and effective_to <= effective_from:
        raise RuleValidationError([("effectiveTo", "Effective To must be later than Effective From")])
