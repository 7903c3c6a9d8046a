"""The targets the engine ships: starting a workflow, running business rules or a rule set, the
outbox sweep, the scheduler's own retention pruning, and an echo for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from engine.db.session import after_commit
from engine.outbox.schemas import SweepOutboxes
from engine.outbox.workflows import OutboxSweepWorkflow
from engine.rules import service as rules
from engine.rules.schemas import ExecuteByIdRequest, ExecuteRequest, parse_body
from engine.scheduler import repository
from engine.scheduler.targets import TargetCall, command, queue
from engine.temporal.ids import scheduled_sweep_id
from engine.workflows import service as workflows
from engine.workflows.interpreter.decisions import allowed_env

PRUNE_QUEUE = "scheduler.prune_runs"
SCOPE_KEYS = ("tenantId", "organizationId", "_idempotencyKey")


class StartWorkflowPayload(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")
    workflow_id: str = Field(alias="workflowId", min_length=1)
    version: int | None = Field(default=None, ge=1)
    initial_context: dict[str, Any] | None = Field(default=None, alias="initialContext")


class ExecuteSetPayload(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")
    set_id: uuid.UUID = Field(alias="setId")


class EchoPayload(BaseModel):
    model_config = ConfigDict(extra="allow")
    sleepSeconds: float = Field(default=0, ge=0, le=600)
    fail: bool = False


def _principal(call: TargetCall) -> Any:
    assert call.principal is not None  # command targets always run as someone
    return call.principal


@command(
    "workflows.start",
    "Start a workflow instance (payload: workflowId, version?, initialContext?)",
    feature="workflows.instances.create",
    payload=StartWorkflowPayload,
)
async def start_workflow(call: TargetCall) -> dict[str, Any]:
    request = StartWorkflowPayload.model_validate(call.payload)
    context = request.initial_context
    if context is None:
        skip = {"workflowId", "version", *SCOPE_KEYS}
        context = {k: v for k, v in call.payload.items() if k not in skip}
    allowlist = [k.strip() for k in call.settings.workflows_env_allowlist.split(",") if k.strip()]
    principal = _principal(call)
    row = await workflows.start_instance(
        call.session, call.temporal, tenant_id=principal.tenant_id, organization_id=principal.organization_id,
        workflow_id=request.workflow_id, version=request.version, context=context, correlation_key=None,
        metadata={"scheduledJob": call.idempotency_key}, initiated_by=str(principal.id),
        task_queue=call.settings.temporal_task_queue, env=allowed_env(os.environ, allowlist),
        history_limit=call.settings.workflows_history_limit,
        # A retried firing starts the same instance (its Temporal workflow id deduplicates).
        instance_id=uuid.uuid5(uuid.NAMESPACE_URL, f"covo:scheduler:{call.idempotency_key}"),
    )  # fmt: skip
    return {"instanceId": str(row.id), "status": row.status}


def _after(call: TargetCall, effects: Any) -> None:
    if effects:
        after_commit(
            call.session,
            functools.partial(rules.dispatch_effects, call.temporal, call.settings.temporal_task_queue, effects),
        )


@command(
    "business_rules.execute",
    "Execute business rules (payload: entityType, eventType?, data?)",
    feature="business_rules.execute",
)
async def execute_rules(call: TargetCall) -> dict[str, Any]:
    result, effects = await rules.execute(call.session, _principal(call), parse_body(ExecuteRequest, call.payload))
    _after(call, effects)
    return result


@command(
    "business_rules.execute_set",
    "Execute a business rule set (payload: setId, entityType?, data?)",
    feature="business_rules.execute",
    payload=ExecuteSetPayload,
)
async def execute_rule_set(call: TargetCall) -> dict[str, Any]:
    request = ExecuteSetPayload.model_validate(call.payload)
    body = {k: v for k, v in call.payload.items() if k not in ("setId", "tenantId", "organizationId")}
    principal = _principal(call)
    rule_set = await rules.get_set(call.session, principal, str(request.set_id))
    result, effects = await rules.execute_set(call.session, principal, rule_set, parse_body(ExecuteByIdRequest, body))
    _after(call, effects)
    return result


@command("scheduler.test.echo", "Echo the payload (tests; sleepSeconds delays, fail: true fails)", payload=EchoPayload)
async def echo(call: TargetCall) -> dict[str, Any]:
    request = EchoPayload.model_validate(call.payload)
    if request.sleepSeconds:
        await asyncio.sleep(request.sleepSeconds)
    if request.fail:
        raise ApplicationError("Echo asked to fail")
    return dict(call.payload)


@queue("outbox.sweep", "Outbox sweep: hand stranded mail and domain events in again")
async def sweep_outbox(call: TargetCall) -> dict[str, Any]:
    workflow_id = scheduled_sweep_id(call.idempotency_key)

    async def start() -> None:
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await call.temporal.start_workflow(
                OutboxSweepWorkflow.run,
                SweepOutboxes(),
                id=workflow_id,
                task_queue=call.settings.temporal_task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )

    after_commit(call.session, start)
    return {"workflowId": workflow_id}


@queue(PRUNE_QUEUE, "Scheduler: delete execution history older than SCHEDULER_RETENTION_DAYS")
async def prune_runs(call: TargetCall) -> dict[str, Any]:
    deleted = await repository.prune_runs(call.session, timedelta(days=call.settings.scheduler_retention_days))
    return {"deleted": deleted}
