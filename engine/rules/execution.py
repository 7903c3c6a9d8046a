"""The rule engine (reference §3.5, with real actions): prepare (compile once per rule version),
evaluate, run actions, aggregate, log.

Aggregation over the rules that ran:

- `allowed` is false when a GUARD rule failed (condition false or error) -- unless its executed
  failure actions include ALLOW_TRANSITION -- or when any rule ran BLOCK_TRANSITION. No rules =
  allowed.
- `errors`: "Rule <ruleId>: <error>" for rules that errored, plus the SHOW_ERROR / SHOW_WARNING
  messages of failing VALIDATION rules.
- `messages`: every SHOW_* message, with its ruleId and severity.
- `output`: the fields SET_FIELD actions set (any rule type; CALCULATION/ASSIGNMENT are the usual
  ones), later rules overwriting earlier ones.

Budgets: at most MAX_RULES rules per execution (more → nothing runs, `allowed: false`). Evaluation
itself is bounded by the compiled evaluator's node/regex budgets; a rule whose evaluation takes
longer than RULE_BUDGET_S counts as ERROR and runs no actions, actions still pending when the
rule's budget is spent fail, and rules still pending when TOTAL_BUDGET_S is spent are reported
as errors without running.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import DateTime, Integer, Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from engine.clock import iso
from engine.db.session import fetch_alone
from engine.events import service as events
from engine.rules.actions import ActionRun, ActionsOutcome, Effects, PreparedAction, prepare_actions, run_actions
from engine.rules.jsonlogic import CompiledLogic, compile_logic, truthy
from engine.rules.pinned import CONTEXT_KEY, window_error
from engine.rules.schemas import ERROR, FAILURE, SUCCESS

MAX_RULES: Final = 100
RULE_BUDGET_S: Final = 2.0
TOTAL_BUDGET_S: Final = 30.0
FAILED_EVENT: Final = "business_rules.rule.execution_failed"

# ---------------------------------------------------------------- sanitisation

REDACTED: Final = "[REDACTED]"
MAX_DEPTH_MARKER: Final = "[Max depth exceeded]"
SANITIZE_MAX_DEPTH: Final = 5
# Matched anywhere in the key with separators removed (case-insensitive) ...
_SENSITIVE_SUBSTRINGS: Final = (
    "password", "passwd", "secret", "token", "apikey", "creditcard", "cardnumber",
    "socialsecurity", "driverlicense", "driverslicense", "passport", "privatekey",
)  # fmt: skip
# ... and these only as whole words of the key (so `className` or `author` stay visible).
_SENSITIVE_WORDS: Final = frozenset({"pwd", "auth", "authorization", "authentication", "cvv", "cvc", "ssn", "pin"})
_SENSITIVE_PAIRS: Final = frozenset({("tax", "id"), ("api", "key")})


def _words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


@functools.lru_cache(maxsize=8192)
def is_sensitive_key(key: str) -> bool:
    words = _words(key)
    joined = "".join(words)
    if any(s in joined for s in _SENSITIVE_SUBSTRINGS):
        return True
    if any(w in _SENSITIVE_WORDS for w in words):
        return True
    return any(pair in _SENSITIVE_PAIRS for pair in itertools.pairwise(words))


def sanitize(value: Any, depth: int = 0) -> Any:
    """Values of sensitive keys become "[REDACTED]"; containers deeper than 5 levels are cut."""
    if isinstance(value, dict):
        if depth >= SANITIZE_MAX_DEPTH:
            return MAX_DEPTH_MARKER
        return {k: REDACTED if is_sensitive_key(str(k)) else sanitize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        if depth >= SANITIZE_MAX_DEPTH:
            return MAX_DEPTH_MARKER
        return [sanitize(v, depth + 1) for v in value]
    return value


# ---------------------------------------------------------------- prepared rules


@dataclass(frozen=True)
class PreparedRule:
    """A rule row compiled for evaluation; cached per (id, updatedAt)."""

    id: uuid.UUID
    rule_id: str
    rule_name: str
    rule_type: str
    entity_type: str
    event_type: str | None
    enabled: bool
    effective_from: datetime | None
    effective_to: datetime | None
    condition: CompiledLogic | None  # None = always true
    compile_error: str | None
    success_actions: tuple[PreparedAction, ...]
    failure_actions: tuple[PreparedAction, ...]


class _PreparedCache:
    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.items: OrderedDict[tuple[uuid.UUID, datetime], PreparedRule] = OrderedDict()
        self.compiled = 0  # how many preparations ran (tests check the reuse)

    def peek(self, key: tuple[uuid.UUID, datetime]) -> PreparedRule | None:
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
        return found

    def get(self, row: Any) -> PreparedRule:
        key = (row.id, row.updated_at)
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
            return found
        prepared = _prepare(row)
        self.compiled += 1
        self.items[key] = prepared
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return prepared

    def clear(self) -> None:
        self.items.clear()


CACHE = _PreparedCache()


def _prepare(row: Any) -> PreparedRule:
    condition: CompiledLogic | None = None
    error: str | None = None
    success: tuple[PreparedAction, ...] = ()
    failure: tuple[PreparedAction, ...] = ()
    try:
        if row.condition_logic is not None:
            condition = compile_logic(row.condition_logic)
        success = prepare_actions(row.success_actions)
        failure = prepare_actions(row.failure_actions)
    except Exception as exc:  # stored before a stricter validator, or edited by hand
        error = str(exc) or type(exc).__name__
    return PreparedRule(
        id=row.id, rule_id=row.rule_id, rule_name=row.rule_name, rule_type=row.rule_type,
        entity_type=row.entity_type, event_type=row.event_type, enabled=row.enabled,
        effective_from=row.effective_from, effective_to=row.effective_to,
        condition=condition, compile_error=error, success_actions=success, failure_actions=failure,
    )  # fmt: skip


# ---------------------------------------------------------------- execution


@dataclass(frozen=True)
class Actor:
    id: str | None = None
    role: str | None = None
    email: str | None = None


@dataclass
class Execution:
    """One execution request: who, where, on what."""

    tenant_id: uuid.UUID
    organization_id: uuid.UUID | None
    entity_type: str
    data: dict[str, Any]
    entity_id: str | None = None
    event_type: str | None = None
    dry_run: bool = False
    actor: Actor | None = None
    emit_failures: bool = True  # business_rules.rule.execution_failed on errors (discovery runs)
    event_depth: int = 0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def context(self) -> dict[str, Any]:
        actor = self.actor or Actor()
        return {
            "data": self.data,
            "user": {"id": actor.id, "email": actor.email, "role": actor.role},
            "tenant": {"id": str(self.tenant_id)},
            "organization": {"id": str(self.organization_id) if self.organization_id else None},
            "entityType": self.entity_type or None,
            "entityId": self.entity_id,
            "eventType": self.event_type,
            "today": self.now.date().isoformat(),
            "now": iso(self.now),
        }


@dataclass
class RuleOutcome:
    rule: PreparedRule
    condition_result: bool
    actions: ActionsOutcome | None
    error: str | None
    execution_ms: float
    log_id: int | None = None

    @property
    def result(self) -> str:
        return ERROR if self.error else SUCCESS if self.condition_result else FAILURE

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "ruleId": self.rule.rule_id,
            "ruleName": self.rule.rule_name,
            "ruleType": self.rule.rule_type,
            "conditionResult": self.condition_result,
            "actionsExecuted": self.actions.body() if self.actions else None,
            "executionTime": round(self.execution_ms, 3),
        }
        if self.error:
            item["error"] = self.error
        if self.log_id is not None:
            item["logId"] = str(self.log_id)
        return item


def effective_error(rule: PreparedRule, now: datetime) -> str | None:
    """The rule engine's wording of the one effective-window check (`engine.rules.pinned`)."""
    window = window_error(rule.effective_from, rule.effective_to, now)
    if window == "not_yet" and rule.effective_from is not None:
        return f"Rule is not yet effective (starts {iso(rule.effective_from)})"
    if window == "expired" and rule.effective_to is not None:
        return f"Rule has expired (ended {iso(rule.effective_to)})"
    return None


async def evaluate_rule(
    session: AsyncSession,
    rule: PreparedRule,
    execution: Execution,
    context: dict[str, Any],
    eval_data: dict[str, Any],
    effects: Effects,
    *,
    budget_s: float = RULE_BUDGET_S,
) -> RuleOutcome:
    started = time.perf_counter()
    error: str | None = None
    passed = False
    if rule.compile_error is not None:
        error = f"Condition evaluation failed: {rule.compile_error}"
    else:
        try:
            passed = True if rule.condition is None else truthy(rule.condition(eval_data))
        except Exception as exc:
            error = f"Condition evaluation failed: {exc}"
    if error is None and time.perf_counter() - started > budget_s:
        error = f"Rule exceeded its time budget of {int(budget_s * 1000)} ms"
        passed = False
    actions: ActionsOutcome | None = None
    if error is None:
        chosen = rule.success_actions if passed else rule.failure_actions
        if chosen:
            run = ActionRun(
                session=session, tenant_id=execution.tenant_id, organization_id=execution.organization_id,
                rule_uuid=rule.id, rule_id=rule.rule_id, rule_name=rule.rule_name,
                context={**context, "ruleId": rule.rule_id, "ruleName": rule.rule_name},
                eval_data=eval_data, dry_run=execution.dry_run, effects=effects,
                deadline=started + budget_s, event_depth=execution.event_depth,
            )  # fmt: skip
            actions = await run_actions(chosen, run)
    else:
        passed = False
    return RuleOutcome(rule, passed, actions, error, (time.perf_counter() - started) * 1000)


def _input_context(execution: Execution) -> dict[str, Any]:
    actor = execution.actor
    return {
        "data": sanitize(execution.data),
        "eventType": execution.event_type,
        "user": {"id": actor.id, "role": actor.role} if actor else None,
    }


# The output context of a rule that ran no action: one object per result, so a request's rows
# share one serialisation (`_dump`'s memo). Never mutated.
_NO_ACTIONS: Final[dict[bool, dict[str, Any]]] = {
    passed: {"conditionResult": passed, "actionsExecuted": []} for passed in (True, False)
}


def _output_context(outcome: RuleOutcome) -> dict[str, Any] | None:
    if outcome.error:
        return None
    if not outcome.actions:
        return _NO_ACTIONS[outcome.condition_result]
    body: dict[str, Any] = {
        "conditionResult": outcome.condition_result,
        "actionsExecuted": outcome.actions.summary() if outcome.actions else [],
    }
    if outcome.actions and outcome.actions.output:
        body["output"] = sanitize(outcome.actions.output)
    return body


_LOG_COLUMNS: Final = (  # name, type for SQLAlchemy, Postgres type of the unnested array
    ("rule_id", UUID(), "uuid"),
    ("entity_id", Text(), "text"),
    ("entity_type", Text(), "text"),
    ("execution_result", Text(), "text"),
    ("input_context", Text(), "text"),
    ("output_context", Text(), "text"),
    ("error_message", Text(), "text"),
    ("execution_time_ms", Integer(), "int"),
    ("executed_at", DateTime(timezone=True), "timestamptz"),
    ("tenant_id", UUID(), "uuid"),
    ("organization_id", UUID(), "uuid"),
    ("executed_by", Text(), "text"),
)
_JSON_COLUMNS: Final = frozenset({"input_context", "output_context"})


def _insert_logs_sql(placeholders: list[str]) -> str:
    """One statement for any number of rows: each column travels as one array parameter, so the
    SQL is always the same (prepared once per connection). WITH ORDINALITY + ORDER BY inserts in
    the given order, and identity values grow in insertion order, so the sorted ids map back to
    the rows."""
    names = [name for name, _, _ in _LOG_COLUMNS]
    return (
        f"INSERT INTO rule_execution_logs ({', '.join(names)}) "
        f"SELECT {', '.join(f'{name}::jsonb' if name in _JSON_COLUMNS else name for name in names)} "
        f"FROM unnest({', '.join(placeholders)}) WITH ORDINALITY AS u({', '.join(names)}, n) ORDER BY n RETURNING id"
    )


# In a session's transaction, through SQLAlchemy ...
_INSERT_LOGS = text(_insert_logs_sql([f":{name}" for name, _, _ in _LOG_COLUMNS])).bindparams(
    *(bindparam(name, type_=ARRAY(kind)) for name, kind, _ in _LOG_COLUMNS)
)
# ... and on its own (asyncpg's own parameters, typed in the SQL).
_INSERT_LOGS_DRIVER: Final = _insert_logs_sql([f"${i}::{pg}[]" for i, (_, _, pg) in enumerate(_LOG_COLUMNS, 1)])


def _dump(value: Any, memo: dict[int, str | None]) -> str | None:
    """JSON text of a log context; the input context shared by every row is serialised once."""
    if value is None:
        return None
    key = id(value)
    if key not in memo:
        memo[key] = json.dumps(value, default=str, separators=(",", ":"))
    return memo[key]


async def insert_logs(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk insert of execution-log rows (dicts keyed by column; `executed_at`, `organization_id`,
    `error_message`, `executed_by`, `input_context`, `output_context` optional) in one statement;
    returns the ids in the rows' order."""
    return await _insert_logs(session, rows)


def _log_params(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """The column arrays of `rows`, in `_LOG_COLUMNS` order."""
    memo: dict[int, str | None] = {}
    defaults: dict[str, Any] = {"executed_at": datetime.now(UTC), "entity_id": "unknown", "execution_time_ms": 0}
    params: list[list[Any]] = []
    for name, _, _ in _LOG_COLUMNS:
        values = [row.get(name, defaults.get(name)) for row in rows]
        params.append([_dump(v, memo) for v in values] if name in _JSON_COLUMNS else values)
    return params


async def _insert_logs(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    params = dict(zip((name for name, _, _ in _LOG_COLUMNS), _log_params(rows), strict=True))
    result = await session.execute(_INSERT_LOGS, params)
    return sorted(int(i) for i in result.scalars().all())


async def insert_logs_alone(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """`insert_logs` for a request whose only write is these logs (the usual execution: caches
    answered who is asking and which rules apply, no action wrote anything, no failure event
    follows): the one INSERT runs by itself (autocommit: a statement is atomic on its own, and it
    has committed when this returns) on a pooled connection, straight through the driver, instead
    of in the request's transaction: no BEGIN and COMMIT round trips, none of SQLAlchemy's
    per-statement work (together ~10% of the API's CPU in the rules benchmark). The request's
    session stays untouched, so its commit is a no-op."""
    if not rows:
        return []
    bind = session.bind
    assert isinstance(bind, AsyncEngine)
    records = await fetch_alone(bind, _INSERT_LOGS_DRIVER, *_log_params(rows))
    return sorted(record[0] for record in records)


async def run_rules(
    session: AsyncSession,
    rules: list[PreparedRule],
    execution: Execution,
    effects: Effects,
    *,
    rule_budget_s: float = RULE_BUDGET_S,
    total_budget_s: float = TOTAL_BUDGET_S,
    entity_type_of: dict[uuid.UUID, str] | None = None,
) -> tuple[list[RuleOutcome], dict[str, Any]]:
    """Runs `rules` in the given order; returns the outcomes and the aggregate response body
    (`allowed`, `executedRules`, `totalExecutionTime`, `output`, `messages`, `errors?`, `logIds?`)."""
    started = time.perf_counter()
    context = execution.context()
    eval_data = {**execution.data, CONTEXT_KEY: context}
    outcomes: list[RuleOutcome] = []
    for rule in rules:
        if time.perf_counter() - started > total_budget_s:
            outcomes.append(
                RuleOutcome(rule, False, None, f"Not run: total time budget of {int(total_budget_s)} s exhausted", 0.0)
            )
            continue
        outcomes.append(
            await evaluate_rule(session, rule, execution, context, eval_data, effects, budget_s=rule_budget_s)
        )

    allowed = True
    errors: list[str] = []
    messages: list[dict[str, Any]] = []
    output: dict[str, Any] = {}
    for o in outcomes:
        acts = o.actions
        if o.rule.rule_type == "GUARD" and not o.condition_result and not (acts and acts.allow):
            allowed = False
        if acts and acts.block:
            allowed = False
        if o.error:
            errors.append(f"Rule {o.rule.rule_id}: {o.error}")
        if acts:
            messages.extend(acts.messages)
            _merge(output, acts.output)
            if o.rule.rule_type == "VALIDATION" and not o.condition_result:
                errors.extend(m["message"] for m in acts.messages if m["severity"] in ("error", "warning"))

    body: dict[str, Any] = {
        "allowed": allowed,
        "executedRules": [],
        "totalExecutionTime": 0.0,
        "output": output,
        "messages": messages,
    }
    if not execution.dry_run and outcomes:
        await _log_and_report(session, outcomes, execution, effects, entity_type_of or {})
        body["logIds"] = [str(o.log_id) for o in outcomes if o.log_id is not None]
    body["executedRules"] = [o.body() for o in outcomes]
    if errors:
        body["errors"] = errors
    body["totalExecutionTime"] = round((time.perf_counter() - started) * 1000, 3)
    return outcomes, body


def _merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


async def _log_and_report(
    session: AsyncSession,
    outcomes: list[RuleOutcome],
    execution: Execution,
    effects: Effects,
    entity_type_of: dict[uuid.UUID, str],
) -> None:
    input_context = _input_context(execution)
    executed_by = execution.actor.id if execution.actor else None
    rows = [
        {
            "rule_id": o.rule.id,
            "entity_id": (execution.entity_id or "unknown")[:255],
            "entity_type": entity_type_of.get(o.rule.id, execution.entity_type)[:255],
            "execution_result": o.result,
            "input_context": input_context,
            "output_context": _output_context(o),
            "error_message": o.error,
            "execution_time_ms": round(o.execution_ms),
            "executed_at": execution.now,
            "tenant_id": execution.tenant_id,
            "organization_id": execution.organization_id,
            "executed_by": executed_by,
        }
        for o in outcomes
    ]
    failure_events = execution.emit_failures and any(o.error for o in outcomes)
    if session.in_transaction() or failure_events:
        log_ids = await insert_logs(session, rows)
    else:
        log_ids = await insert_logs_alone(session, rows)
    for outcome, log_id in zip(outcomes, log_ids, strict=True):
        outcome.log_id = log_id
    if execution.emit_failures:
        for o in outcomes:
            if o.error:
                payload = {
                    "ruleId": o.rule.rule_id,
                    "ruleName": o.rule.rule_name,
                    "entityType": execution.entity_type,
                    "errorMessage": o.error,
                    "tenantId": str(execution.tenant_id),
                    "organizationId": str(execution.organization_id) if execution.organization_id else None,
                }
                event_id = await events.store(
                    session, tenant_id=execution.tenant_id, organization_id=execution.organization_id,
                    name=FAILED_EVENT, payload=payload,
                )  # fmt: skip
                effects.event_ids.append(event_id)
