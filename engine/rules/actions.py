"""Rule actions, really executed (reference §3.4 only describes them).

Each action produces the reference's result object; the side effects are:

- LOG: a line on the `covo.rules` logger at the action's level.
- NOTIFY: one `notifications` row per recipient, in the caller's transaction.
- EMIT_EVENT: a domain event stored in the caller's transaction (`engine.events.service.store`),
  dispatched after commit.
- CALL_WEBHOOK: a `RuleWebhook` Temporal workflow (retries, SSRF guard in its activity), started
  after commit.
- SET_FIELD builds the `output` object; ALLOW/BLOCK_TRANSITION feed `allowed`; SHOW_* become
  `messages`.

Dry runs compute every result and perform none of the side effects. `{{path}}` placeholders in
messages, subjects, URLs, headers, webhook bodies and event payloads resolve against the action
context (`data`, `ruleId`, `ruleName`, `user`, `tenant`, `organization`, `entityType`, `entityId`,
`eventType`, `today`, `now`) by the one templating engine (`engine.rules.templating`: missing
placeholders kept verbatim, `null` inside text renders empty).
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db.models import NotificationRow
from engine.events import service as events
from engine.rules import templating
from engine.rules.jsonlogic import CompiledLogic, compile_logic
from engine.rules.schemas import WEBHOOK_METHODS, WebhookRequest
from engine.temporal import ids

log = logging.getLogger("covo.rules")

_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_SEVERITY = {"SHOW_ERROR": "error", "SHOW_WARNING": "warning", "SHOW_INFO": "info"}
# Domain events emitted by rules carry their chain depth; run_for_event stops at this depth, so a
# rule that emits the event it listens to cannot loop forever.
MAX_EVENT_CHAIN = 5


# ---------------------------------------------------------------- templating


def interpolate(text: str, context: dict[str, Any]) -> str:
    """`{{path}}` placeholders of `text` resolved in the action context (`engine.rules.templating`)."""
    return templating.interpolate(text, templating.path_resolver(context))


def render(value: Any, context: dict[str, Any]) -> Any:
    """Deep templating of a JSON value against the action context (`engine.rules.templating`)."""
    return templating.render(value, templating.path_resolver(context))


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """Sets `a.b.c` in nested objects, creating (or replacing non-object) intermediates."""
    parts = [p for p in path.split(".") if p]
    for part in parts[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    if parts:
        target[parts[-1]] = value


# ---------------------------------------------------------------- prepared actions


@dataclass(frozen=True)
class PreparedAction:
    type: str
    config: dict[str, Any]
    value_fn: CompiledLogic | None = None  # SET_FIELD valueExpression, compiled once


def prepare_actions(actions: list[Any] | None) -> tuple[PreparedAction, ...]:
    prepared = []
    for action in actions or []:
        if not isinstance(action, dict):
            prepared.append(PreparedAction(type=str(action), config={}))
            continue
        config = action.get("config") if isinstance(action.get("config"), dict) else {}
        assert isinstance(config, dict)
        value_fn = None
        if action.get("type") == "SET_FIELD" and "valueExpression" in config:
            value_fn = compile_logic(config["valueExpression"])
        prepared.append(PreparedAction(type=str(action.get("type")), config=config, value_fn=value_fn))
    return tuple(prepared)


# ---------------------------------------------------------------- effects after commit


@dataclass
class Effects:
    """Side effects that must wait for the transaction to commit: domain events to dispatch and
    webhook workflows to start (each with the action result it reports back into)."""

    event_ids: list[uuid.UUID] = field(default_factory=list)
    webhooks: list[tuple[WebhookRequest, dict[str, Any]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.event_ids or self.webhooks)

    def extend(self, other: Effects) -> None:
        self.event_ids.extend(other.event_ids)
        self.webhooks.extend(other.webhooks)


# ---------------------------------------------------------------- running


@dataclass
class ActionRun:
    """What the actions of one rule run with."""

    session: AsyncSession
    tenant_id: uuid.UUID
    organization_id: uuid.UUID | None
    rule_uuid: uuid.UUID
    rule_id: str
    rule_name: str
    context: dict[str, Any]  # the templating context
    eval_data: dict[str, Any]  # what JsonLogic value expressions see
    dry_run: bool
    effects: Effects
    deadline: float  # time.perf_counter() value after which remaining actions fail
    event_depth: int = 0


@dataclass
class ActionsOutcome:
    success: bool = True
    results: list[dict[str, Any]] = field(default_factory=list)
    output: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    allow: bool = False  # an ALLOW_TRANSITION ran
    block: bool = False  # a BLOCK_TRANSITION ran

    def body(self) -> dict[str, Any]:
        return {"success": self.success, "results": self.results}

    def summary(self) -> list[dict[str, Any]]:
        """What the execution log keeps: type, success, error (no results, so nothing secret)."""
        return [{"type": r["type"], "success": r["success"], "error": r.get("error")} for r in self.results]


async def run_actions(actions: tuple[PreparedAction, ...], run: ActionRun) -> ActionsOutcome:
    """Runs actions in order; a failing action does not stop the next ones."""
    outcome = ActionsOutcome()
    for action in actions:
        started = time.perf_counter()
        entry: dict[str, Any] = {"type": action.type}
        try:
            if started > run.deadline:
                raise TimeoutError("Rule time budget exhausted before this action ran")
            entry["result"] = await _run_one(action, run, outcome)
            entry["success"] = True
        except Exception as exc:
            entry["success"] = False
            entry["error"] = str(exc) or type(exc).__name__
            outcome.success = False
        entry["executionTime"] = round((time.perf_counter() - started) * 1000, 3)
        outcome.results.append(entry)
    return outcome


async def _run_one(action: PreparedAction, run: ActionRun, outcome: ActionsOutcome) -> dict[str, Any]:
    config, ctx, kind = action.config, run.context, action.type
    if kind in ("ALLOW_TRANSITION", "BLOCK_TRANSITION"):
        allowed = kind == "ALLOW_TRANSITION"
        default = "Transition allowed" if allowed else "Transition blocked"
        message = interpolate(str(config.get("message") or default), ctx)
        if allowed:
            outcome.allow = True
        else:
            outcome.block = True
        return {"type": kind, "allowed": allowed, "message": message}
    if kind == "LOG":
        level = str(config.get("level") or "info").lower()
        message = interpolate(str(config.get("message") or ""), ctx)
        if not run.dry_run:
            log.log(_LOG_LEVELS.get(level, logging.INFO), "rule %s: %s", run.rule_id, message)
        return {"type": kind, "level": level, "message": message, "timestamp": ctx.get("now")}
    if kind in _SEVERITY:
        message = interpolate(str(config.get("message") or ""), ctx)
        outcome.messages.append({"ruleId": run.rule_id, "severity": _SEVERITY[kind], "message": message})
        return {"type": kind, "severity": _SEVERITY[kind], "message": message}
    if kind == "NOTIFY":
        return await _notify(config, run)
    if kind == "SET_FIELD":
        path = str(config.get("field") or "").strip()
        if not path:
            raise ValueError("SET_FIELD requires a field")
        if action.value_fn is not None:
            value = action.value_fn(run.eval_data)
        else:
            value = render(copy.deepcopy(config.get("value")), ctx)
        set_path(outcome.output, path, value)
        return {"type": kind, "field": path, "value": value}
    if kind == "CALL_WEBHOOK":
        return _webhook(config, run)
    if kind == "EMIT_EVENT":
        return await _emit(config, run)
    raise ValueError(f"Unknown action type: {kind}")


async def _notify(config: dict[str, Any], run: ActionRun) -> dict[str, Any]:
    recipients = config.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        raise ValueError("NOTIFY requires a non-empty array of recipients")
    names = [interpolate(str(r), run.context) for r in recipients]
    subject = interpolate(str(config["subject"]), run.context) if config.get("subject") else None
    message = interpolate(str(config.get("message") or ""), run.context)
    template = str(config["template"]) if config.get("template") else None
    result: dict[str, Any] = {
        "type": "NOTIFY",
        "recipients": names,
        "subject": subject,
        "message": message,
        "template": template,
    }
    if not run.dry_run:
        rows = [
            {
                "id": uuid.uuid4(),
                "tenant_id": run.tenant_id,
                "organization_id": run.organization_id,
                "recipient": name[:320],
                "subject": subject[:500] if subject else None,
                "message": message,
                "template": template,
                "source_type": "business_rule",
                "source_id": str(run.rule_uuid),
                "data": {
                    "ruleId": run.rule_id,
                    "entityType": run.context.get("entityType"),
                    "entityId": run.context.get("entityId"),
                },
            }
            for name in names
        ]
        await run.session.execute(insert(NotificationRow), rows)
        result["notificationIds"] = [str(r["id"]) for r in rows]
    return result


def _webhook(config: dict[str, Any], run: ActionRun) -> dict[str, Any]:
    url = interpolate(str(config.get("url") or ""), run.context)
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"CALL_WEBHOOK url must be http(s), got {url[:100]!r}")
    method = str(config.get("method") or "POST").upper()
    if method not in WEBHOOK_METHODS:
        raise ValueError(f"CALL_WEBHOOK method {method} is not supported")
    headers = {str(k): interpolate(str(v), run.context) for k, v in (config.get("headers") or {}).items()}
    body = render(copy.deepcopy(config.get("body")), run.context)
    # Headers may carry credentials: results (and so logs and responses) never show them.
    result: dict[str, Any] = {"type": "CALL_WEBHOOK", "url": url, "method": method, "body": body}
    if run.dry_run:
        result["status"] = "skipped"
        return result
    workflow_id = ids.rule_webhook_id(uuid.uuid4())
    request = WebhookRequest(
        url=url, method=method, headers=headers, body=body, idempotency_key=workflow_id,
        tenant_id=run.tenant_id, rule_id=run.rule_id,
    )  # fmt: skip
    result.update(status="pending", workflowId=workflow_id)
    run.effects.webhooks.append((request, result))
    return result


async def _emit(config: dict[str, Any], run: ActionRun) -> dict[str, Any]:
    name = interpolate(str(config.get("eventName") or config.get("event") or ""), run.context).strip()
    if not name:
        raise ValueError("EMIT_EVENT requires an eventName")
    payload = render(copy.deepcopy(config.get("payload") or {}), run.context)
    if not isinstance(payload, dict):
        raise ValueError("EMIT_EVENT payload must be an object")
    payload["_rule"] = {
        "ruleId": run.rule_id,
        "ruleName": run.rule_name,
        "entityType": run.context.get("entityType"),
        "entityId": run.context.get("entityId"),
        "depth": run.event_depth + 1,
    }
    result: dict[str, Any] = {"type": "EMIT_EVENT", "event": name, "payload": payload}
    if not run.dry_run:
        event_id = await events.store(
            run.session, tenant_id=run.tenant_id, organization_id=run.organization_id, name=name, payload=payload
        )
        run.effects.event_ids.append(event_id)
        result["eventId"] = str(event_id)
    return result
