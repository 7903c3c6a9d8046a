"""Running rules: on request (by entity/event type, by rule UUID, by rule set), on domain events,
and the functions the workflow engine uses (`snapshots_for` pins rules at a workflow's start,
`write_logs` records evaluations done inside a workflow). Emitted events and webhooks are
collected as `Effects` and dispatched after the commit (`dispatch_effects`). Flushes, never
commits. Other domains reach these through `engine.rules.service`."""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from engine.auth.schemas import Principal
from engine.clock import now
from engine.db.models import RuleSetRow
from engine.db.session import after_commit
from engine.errors import NotFound
from engine.events import service as events
from engine.invalidation import TtlCache
from engine.rules import repository
from engine.rules.actions import MAX_EVENT_CHAIN, Effects
from engine.rules.discovery import cached_versions
from engine.rules.execution import (
    CACHE,
    MAX_RULES,
    Actor,
    Execution,
    PreparedRule,
    effective_error,
    insert_logs,
    run_rules,
    sanitize,
)
from engine.rules.pinned import RuleSnapshot
from engine.rules.schemas import ERROR, FAILURE, SUCCESS, ExecuteByIdRequest, ExecuteRequest, RuleLogEntry
from engine.rules.workflows import RuleWebhookWorkflow

log = logging.getLogger("covo.rules")

# Domain events that never trigger rules (reference §3.5).
EVENT_PREFIXES_SKIPPED: Final = ("query_index.", "search.", "business_rules.", "cache.", "queue.", "workflows.")


def _actor(principal: Principal) -> Actor:
    return Actor(id=str(principal.id), role=",".join(principal.role_names) or None, email=principal.email)


async def _prepared(session: AsyncSession, versions: list[Any]) -> list[PreparedRule]:
    """Rules for (id, updatedAt) pairs, in order: from the cache, loading (one query) and
    compiling only the versions not seen yet."""
    found: dict[uuid.UUID, PreparedRule] = {}
    missing = []
    for rule_uuid, updated_at in versions:
        hit = CACHE.peek((rule_uuid, updated_at))
        if hit is None:
            missing.append(rule_uuid)
        else:
            found[rule_uuid] = hit
    if missing:
        for row in await repository.rules_to_run(session, missing):
            found[row.id] = CACHE.get(row)
    return [found[rule_uuid] for rule_uuid, _ in versions if rule_uuid in found]


async def discover(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    entity_type: str,
    event_type: str | None,
    at: datetime,
    cache: TtlCache | None = None,
) -> list[PreparedRule]:
    """Reference §3.5: enabled live rules of the tenant and organization for the entity type (and
    the event type, when given: rules without one are then excluded), inside their effective
    window; priority descending, then ruleId. At most MAX_RULES + 1 (so the cap is detectable).
    With `cache` (the API's, engine/rules/discovery.py) the candidates come from it."""
    if cache is not None:
        versions = await cached_versions(session, cache, tenant_id, organization_id, entity_type, event_type, at)
        if versions is not None:
            return await _prepared(session, versions)
    rows = await repository.discovered_versions(session, tenant_id, organization_id, entity_type, event_type, at)
    return await _prepared(session, rows)


def _too_many(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        **(extra or {}),
        "allowed": False,
        "executedRules": [],
        "totalExecutionTime": 0,
        "output": {},
        "messages": [],
        "errors": [f"More than {MAX_RULES} rules match; none were executed"],
    }


async def execute(
    session: AsyncSession, principal: Principal, request: ExecuteRequest, discovery_cache: TtlCache | None = None
) -> tuple[dict[str, Any], Effects]:
    """POST /business_rules/execute."""
    execution = Execution(
        tenant_id=principal.tenant_id, organization_id=principal.organization_id, entity_type=request.entity_type,
        data=request.data, entity_id=request.entity_id, event_type=request.event_type, dry_run=request.dry_run,
        actor=_actor(principal),
    )  # fmt: skip
    effects = Effects()
    rules = await discover(
        session, execution.tenant_id, execution.organization_id, request.entity_type, request.event_type,
        execution.now, discovery_cache,
    )  # fmt: skip
    if len(rules) > MAX_RULES:
        return _too_many(), effects
    _, result = await run_rules(session, rules, execution, effects)
    return result, effects


async def execute_by_id(
    session: AsyncSession, principal: Principal, rule_uuid: uuid.UUID, request: ExecuteByIdRequest
) -> tuple[dict[str, Any], Effects]:
    """POST /business_rules/execute/{ruleId} (the rule's UUID). 200 even when the rule cannot run
    (disabled, outside its window); 404 only when it does not exist here."""
    row = await repository.rule_to_run(session, principal, rule_uuid)
    if row is None:
        raise NotFound("Rule not found")
    rule = CACHE.get(row)
    effects = Effects()
    execution = Execution(
        tenant_id=principal.tenant_id, organization_id=principal.organization_id,
        entity_type=request.entity_type or rule.entity_type, data=request.data, entity_id=request.entity_id,
        event_type=request.event_type or rule.event_type, dry_run=request.dry_run, actor=_actor(principal),
        emit_failures=False,
    )  # fmt: skip
    refusal = "Rule is disabled" if not rule.enabled else effective_error(rule, execution.now)
    result: dict[str, Any] = {
        "success": False,
        "ruleId": rule.rule_id,
        "ruleName": rule.rule_name,
        "conditionResult": False,
        "actionsExecuted": None,
        "executionTime": 0,
    }
    if refusal:
        return {**result, "error": refusal}, effects
    outcomes, aggregate = await run_rules(session, [rule], execution, effects)
    outcome = outcomes[0]
    item = outcome.body()
    result.update(
        success=outcome.error is None,
        conditionResult=outcome.condition_result,
        actionsExecuted=item["actionsExecuted"],
        executionTime=item["executionTime"],
        allowed=aggregate["allowed"],
        output=aggregate["output"],
        messages=aggregate["messages"],
    )
    if outcome.error:
        result["error"] = outcome.error
    if outcome.log_id is not None:
        result["logId"] = str(outcome.log_id)
    return result, effects


async def execute_set(
    session: AsyncSession, principal: Principal, rule_set: RuleSetRow, request: ExecuteByIdRequest
) -> tuple[dict[str, Any], Effects]:
    """POST /business_rules/sets/{id}/execute on a set the caller loaded
    (`engine.rules.service.get_set`): the set's enabled members whose rules are enabled and
    effective, in member `sequence` order (then priority, ruleId)."""
    effects = Effects()
    extra = {"setId": rule_set.set_id}
    if not rule_set.enabled:
        return {
            **_too_many(extra),
            "errors": ["Rule set is disabled"],
        }, effects
    at = now()
    rules = await _prepared(session, await repository.set_versions(session, principal, rule_set.id, at))
    if len(rules) > MAX_RULES:
        return _too_many(extra), effects
    execution = Execution(
        tenant_id=principal.tenant_id, organization_id=principal.organization_id,
        entity_type=request.entity_type or "", data=request.data, entity_id=request.entity_id,
        event_type=request.event_type, dry_run=request.dry_run, actor=_actor(principal), now=at,
    )  # fmt: skip
    own_types = {} if request.entity_type else {r.id: r.entity_type for r in rules}
    _, result = await run_rules(session, rules, execution, effects, entity_type_of=own_types)
    return {**extra, **result}, effects


async def dispatch_effects(client: Client, task_queue: str, effects: Effects) -> None:
    """After commit: hands emitted domain events to the bus and starts webhook workflows. A
    failure is logged (events stay stored, undispatched) and reported in the webhook's result."""
    for event_id in effects.event_ids:
        try:
            await events.dispatch(client, event_id, task_queue)
        except Exception:
            log.exception("could not dispatch domain event %s", event_id)
    for request, result in effects.webhooks:
        try:
            await client.start_workflow(
                RuleWebhookWorkflow.run,
                request,
                id=request.idempotency_key,
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            pass
        except Exception as exc:
            log.exception("could not start webhook workflow %s", request.idempotency_key)
            result.update(status="failed", error=f"Could not start webhook delivery: {exc}")


# ---------------------------------------------------------------- public API for workflows and events


def _fail_message(actions: list[Any] | None) -> str | None:
    for kind in ("SHOW_ERROR", "BLOCK_TRANSITION", "SHOW_WARNING"):
        for action in actions or []:
            if isinstance(action, dict) and action.get("type") == kind:
                message = (action.get("config") or {}).get("message")
                if isinstance(message, str) and message:
                    return message
    return None


async def snapshots_for(session: AsyncSession, tenant_id: uuid.UUID, rule_ids: set[str]) -> dict[str, RuleSnapshot]:
    """The live rules of the tenant with these string `ruleId`s, as snapshots a workflow pins at
    start. `condition` is JsonLogic (`true` when the rule has none); a condition given as a
    reference condition tree reads its `{{today}}`/`{{user.id}}`-style values from
    `data["$context"]` (`engine.rules.pinned.CONTEXT_KEY`). `fail_message` is the rule's first
    SHOW_ERROR / BLOCK_TRANSITION / SHOW_WARNING failure message (unrendered), if any."""
    if not rule_ids:
        return {}
    rows = await repository.live_rules_by_key(session, tenant_id, rule_ids)
    return {
        row.rule_id: RuleSnapshot(
            rule_id=row.rule_id,
            rule_name=row.rule_name,
            enabled=row.enabled,
            condition=row.condition_logic if row.condition_logic is not None else True,
            effective_from=row.effective_from,
            effective_to=row.effective_to,
            fail_message=_fail_message(row.failure_actions),
            version=f"{row.id}@{row.updated_at.isoformat()}",
        )
        for row in rows
    }


def event_target(event_name: str) -> tuple[str, str] | None:
    """Reference §3.5: `sales.orders.created` → (`sales.orders`, `created`): every segment but the
    last is the entity type, the last the event type. Needs at least three segments; bus-internal
    prefixes (business_rules., workflows., query_index., search., cache., queue.) never run rules."""
    if event_name.startswith(EVENT_PREFIXES_SKIPPED):
        return None
    parts = event_name.split(".")
    if len(parts) < 3 or not all(parts):
        return None
    return ".".join(parts[:-1]), parts[-1]


def _event_entity_id(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    value = payload.get("entityId") or payload.get("id")
    return str(value)[:255] if value not in (None, "") else None


async def execute_for_event(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    event_name: str,
    payload: dict[str, Any],
    idempotency_key: str | None = None,
) -> tuple[int, Effects]:
    """Runs the rules an event matches (no user, not a dry run, logs written) in `session`
    without committing; returns (rules run, effects to dispatch after commit). With an
    `idempotency_key` (e.g. `event:<id>:rules`) the run is recorded in `side_effects` in the same
    transaction, and a second call with the key runs nothing (a retried dispatch activity)."""
    effects = Effects()
    target = event_target(event_name)
    if target is None:
        return 0, effects
    chain = payload.get("_rule") if isinstance(payload, dict) else None
    depth = int(chain.get("depth") or 0) if isinstance(chain, dict) else 0
    if depth >= MAX_EVENT_CHAIN:
        log.warning("event %s not run through rules: rule-emitted event chain reached depth %s", event_name, depth)
        return 0, effects
    entity_type, event_type = target
    execution = Execution(
        tenant_id=tenant_id, organization_id=organization_id, entity_type=entity_type,
        data=payload if isinstance(payload, dict) else {}, event_type=event_type, event_depth=depth,
        entity_id=_event_entity_id(payload),
    )  # fmt: skip
    rules = await discover(session, tenant_id, organization_id, entity_type, event_type, execution.now)
    if len(rules) > MAX_RULES:
        log.warning("event %s matches more than %s rules; none were run", event_name, MAX_RULES)
        return 0, effects
    if not rules:
        return 0, effects
    if idempotency_key is not None and not await repository.claim_side_effect(
        session, idempotency_key, "business_rules.event", {"rules": len(rules)}
    ):
        return 0, effects
    await run_rules(session, rules, execution, effects)
    return len(rules), effects


async def run_for_event(
    session: AsyncSession,
    client: Client,
    task_queue: str,
    *,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    event_name: str,
    payload: dict[str, Any],
    idempotency_key: str | None = None,
) -> int:
    """Domain events run matching rules automatically: `orders.order.created` runs the rules with
    entityType `orders.order` and eventType `created` (see `event_target`) with `data = payload`,
    trusted tenant/organization from the event, no user; the log's entityId is `payload["entityId"]`
    or `payload["id"]`. The result cannot block the emitter.
    Writes logs, notifications and emitted events in `session` and registers the dispatch of the
    effects (emitted events, webhooks) to run after its commit (`engine.db.session.after_commit`):
    call it inside a `unit_of_work`.
    Pass `idempotency_key=f"event:{event_id}:rules"` from a retryable activity so a retry does not
    run the rules twice. Returns the number of rules run (0 when the key was already used)."""
    ran, effects = await execute_for_event(
        session, tenant_id=tenant_id, organization_id=organization_id, event_name=event_name, payload=payload,
        idempotency_key=idempotency_key,
    )  # fmt: skip
    if effects:
        after_commit(session, functools.partial(dispatch_effects, client, task_queue, effects))
    return ran


async def write_logs(session: AsyncSession, logs: list[RuleLogEntry]) -> list[int | None]:
    """Writes execution logs for evaluations done elsewhere (workflow pre/post-conditions evaluated
    inside the workflow). Each entry's `rule_id` is the string key, resolved in its tenant among
    live rules; `data` is sanitised like every other log. Returns the log ids in order (None for
    entries whose rule no longer exists). Does not commit."""
    if not logs:
        return []
    uuids = await repository.live_rule_uuids(session, {(entry.tenant_id, entry.rule_id) for entry in logs})
    values, positions = [], []
    for i, entry in enumerate(logs):
        rule_uuid = uuids.get((entry.tenant_id, entry.rule_id))
        if rule_uuid is None:
            continue
        result = ERROR if entry.error else SUCCESS if entry.condition_result else FAILURE
        values.append(
            {
                "rule_id": rule_uuid,
                "entity_id": (entry.entity_id or "unknown")[:255],
                "entity_type": entry.entity_type[:255],
                "execution_result": result,
                "input_context": {
                    "data": sanitize(entry.data),
                    "eventType": entry.event_type,
                    "user": {"id": entry.executed_by, "role": None} if entry.executed_by else None,
                },
                "output_context": None
                if entry.error
                else {"conditionResult": entry.condition_result, "actionsExecuted": entry.actions_executed or []},
                "error_message": entry.error,
                "execution_time_ms": entry.execution_time_ms,
                "executed_at": entry.executed_at or now(),
                "tenant_id": entry.tenant_id,
                "organization_id": entry.organization_id,
                "executed_by": entry.executed_by,
            }
        )
        positions.append(i)
    ids: list[int | None] = [None] * len(logs)
    for position, log_id in zip(positions, await insert_logs(session, values), strict=True):
        ids[position] = log_id
    return ids
