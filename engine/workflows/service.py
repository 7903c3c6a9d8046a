"""Workflow definitions (CRUD on Postgres), and instance commands (start, signal, advance,
cancel, retry, task claim/complete) sent to each instance's Temporal workflow."""

from __future__ import annotations

import functools
import os
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from engine import metrics
from engine.auth.schemas import Principal
from engine.clock import now
from engine.db.models import (
    WorkflowDefinitionRow,
    WorkflowEventRow,
    WorkflowInstanceRow,
)
from engine.db.session import flush_unique
from engine.errors import BadRequest, Conflict, DomainError, Forbidden, NotFound, Unprocessable
from engine.invalidation import TtlCache
from engine.pagination import OffsetParams, PageParams
from engine.rules import pinned
from engine.rules import service as rules
from engine.rules.pinned import CONTEXT_KEY, rule_context
from engine.settings import Settings
from engine.temporal import ids
from engine.workflows import repository
from engine.workflows.definition import DefinitionFields, WorkflowDefinition, definition_json_schema
from engine.workflows.interpreter.decisions import allowed_env
from engine.workflows.repository import TenantRow
from engine.workflows.schemas import (
    RUNNING,
    TERMINAL_STATUSES,
    AdvanceRequest,
    CommandRequest,
    DefinitionSnapshot,
    InstanceHeader,
    InstanceStart,
    InstanceView,
    RuleSnapshot,
    SignalRequest,
    SignalResult,
)
from engine.workflows.workflows import WorkflowInstanceWorkflow

# ---------------------------------------------------------------- definitions


async def list_definitions(
    session: AsyncSession,
    principal: Principal,
    params: OffsetParams,
    *,
    workflow_id: str | None,
    enabled: bool | None,
    search: str | None,
) -> tuple[list[WorkflowDefinitionRow], int]:
    return await repository.definitions_page(
        session, principal.tenant_id, params, workflow_id=workflow_id, enabled=enabled, search=search
    )


async def tenant_row(
    session: AsyncSession, principal: Principal, model: type[TenantRow], row_id: str, not_found: str
) -> TenantRow:
    """The caller's tenant's live row with this id; anything else (bad id, other tenant,
    deleted) is the same 404."""
    row = await repository.tenant_row(session, principal.tenant_id, model, row_id)
    if row is None:
        raise NotFound(not_found)
    return row


async def get_definition(session: AsyncSession, principal: Principal, definition_id: str) -> WorkflowDefinitionRow:
    return await tenant_row(session, principal, WorkflowDefinitionRow, definition_id, "Workflow definition not found")


async def create_definition(
    session: AsyncSession, principal: Principal, fields: DefinitionFields
) -> WorkflowDefinitionRow:
    row = WorkflowDefinitionRow(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        organization_id=principal.organization_id,
        workflow_id=fields.workflow_id,
        created_by=str(principal.id),
    )
    return await _store(session, principal, row, fields, add=True)


async def update_definition(
    session: AsyncSession, principal: Principal, row: WorkflowDefinitionRow, fields: DefinitionFields
) -> WorkflowDefinitionRow:
    """Edits the row in place (its workflowId stays). Running instances are unaffected: each runs
    the snapshot it started with."""
    return await _store(session, principal, row, fields, add=False)


async def _store(
    session: AsyncSession, principal: Principal, row: WorkflowDefinitionRow, fields: DefinitionFields, *, add: bool
) -> WorkflowDefinitionRow:
    row.workflow_name = fields.workflow_name
    row.description = fields.description
    row.version = fields.version
    row.definition = fields.definition
    row.metadata_ = fields.metadata
    row.enabled = fields.enabled
    row.effective_from = fields.effective_from
    row.effective_to = fields.effective_to
    row.updated_by = str(principal.id)
    if add:
        session.add(row)
    await flush_unique(
        session, f'Workflow definition with ID "{row.workflow_id}" and version {row.version} already exists'
    )
    return row


async def delete_definition(session: AsyncSession, principal: Principal, definition_id: str) -> None:
    row = await get_definition(session, principal, definition_id)
    active = await repository.count_unfinished(session, row)
    if active:
        raise Conflict(f"Cannot delete workflow definition with {active} active instance(s)")
    row.deleted_at = now()
    await session.flush()


def schema() -> dict[str, Any]:
    return definition_json_schema()


@dataclass(frozen=True)
class StartDefinition:
    """What starting an instance needs of a definition row, copied out of the session so a
    per-process cache may keep it (the API's `Caches.workflows`). `definition` is shared by every
    start served from the same entry: read it, never change it."""

    id: uuid.UUID
    workflow_id: str
    version: int
    enabled: bool
    definition: dict[str, Any]

    @classmethod
    def of(cls, row: WorkflowDefinitionRow) -> StartDefinition:
        return cls(row.id, row.workflow_id, row.version, row.enabled, row.definition)

    @functools.cached_property
    def parsed(self) -> WorkflowDefinition:
        """The definition JSON validated once per object (ValueError when it is invalid)."""
        return WorkflowDefinition.model_validate(self.definition)


async def find_definition(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    workflow_id: str,
    version: int | None,
    cache: TtlCache | None = None,
) -> StartDefinition:
    """The exact version when given (404 if absent, 400 if disabled), else the highest enabled one.
    With a `cache` (the API's starts), a found row is served from it until the next write to
    `workflow_definitions` (engine/invalidation.py); a miss is never cached."""

    async def load() -> StartDefinition | None:
        found = await repository.definition_version(session, tenant_id, workflow_id, version)
        return None if found is None else StartDefinition.of(found)

    row: StartDefinition | None = (
        await cache.through((tenant_id, workflow_id, version), load) if cache is not None else await load()
    )
    if version is not None:
        if row is None:
            raise NotFound(
                f"Workflow definition '{workflow_id}' version {version} not found", code="DEFINITION_NOT_FOUND"
            )
        if not row.enabled:
            raise BadRequest(
                f"Workflow definition '{workflow_id}' version {version} is disabled", code="DEFINITION_DISABLED"
            )
        return row
    if row is None:
        raise NotFound(f"Workflow definition '{workflow_id}' not found", code="DEFINITION_NOT_FOUND")
    return row


def referenced_rule_ids(definition: dict[str, Any]) -> set[str]:
    ids: set[str] = set()
    for item in [*definition.get("steps", []), *definition.get("transitions", [])]:
        for key in ("preConditions", "postConditions"):
            for ref in item.get(key) or []:
                if isinstance(ref, dict) and ref.get("ruleId"):
                    ids.add(str(ref["ruleId"]))
    return ids


async def rule_snapshots(session: AsyncSession, tenant_id: uuid.UUID, rule_ids: set[str]) -> dict[str, RuleSnapshot]:
    """Business rules the definition references, as they are now: the instance pins this copy
    and evaluates it inside the workflow, so later rule edits never change a running decision."""
    return await rules.snapshots_for(session, tenant_id, rule_ids)


async def snapshot(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: str, version: int | None
) -> DefinitionSnapshot:
    row = await find_definition(session, tenant_id, workflow_id, version)
    return DefinitionSnapshot(
        definition_id=row.id,
        workflow_id=row.workflow_id,
        version=row.version,
        definition=row.definition,
        rules=await rule_snapshots(session, tenant_id, referenced_rule_ids(row.definition)),
    )


async def start_pre_condition_errors(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    row: StartDefinition,
    context: dict[str, Any],
    locale: str,
    initiated_by: str | None = None,
) -> list[dict[str, Any]]:
    """Errors of the START step's required pre-conditions for this context (reference §2.12.4),
    evaluated by the one pinned-rule evaluator (`engine.rules.pinned`): the same checks, effective
    window and `$context` as the pre-conditions inside the workflow."""
    try:
        start = row.parsed.start_step()
    except (ValueError, KeyError):
        return [
            {
                "ruleId": "_NO_START_STEP",
                "message": "Workflow definition has no START step",
                "code": "INVALID_DEFINITION",
            }
        ]
    refs = [ref for ref in start.pre_conditions if ref.required]
    rules = await rule_snapshots(session, tenant_id, {ref.rule_id for ref in refs})
    moment = now()
    data = {
        "workflowId": row.workflow_id,
        "workflowContext": context,
        CONTEXT_KEY: rule_context(initiated_by, tenant_id, moment),
    }
    errors = []
    for ref in refs:
        messages = ref.validation_message or {}
        verdict = pinned.evaluate(ref.rule_id, rules.get(ref.rule_id), data, moment)
        if verdict.passed:
            continue
        message = verdict.error
        if verdict.code in (pinned.RULE_NOT_FOUND, pinned.PRE_CONDITION_FAILED):
            message = messages.get(locale) or messages.get("en") or verdict.error
        errors.append({"ruleId": ref.rule_id, "message": message, "code": verdict.code})
    return errors


# ---------------------------------------------------------------- instances


async def concurrency_limit_reached(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: str, limit: int | None
) -> int | None:
    """A trigger's maxConcurrentInstances: the number of active instances when the workflow is at
    its limit, else None. Serialized per tenant + workflowId by a transaction-scoped advisory lock,
    so two dispatches cannot both take the last slot: call it in the transaction that inserts the
    instance row."""
    if limit is None:
        return None
    await repository.lock_starts(session, tenant_id, workflow_id)
    active = await repository.count_active(session, tenant_id, workflow_id)
    return active if active >= limit else None


def template_env(settings: Settings) -> dict[str, str]:
    """The environment `{{env.X}}` placeholders of a new instance may read, pinned at start:
    `APP_URL` plus `WORKFLOWS_ENV_ALLOWLIST` (comma-separated), read from the process environment."""
    allowlist = [k.strip() for k in settings.workflows_env_allowlist.split(",") if k.strip()]
    return allowed_env(os.environ, allowlist)


async def start_instance(
    session: AsyncSession,
    client: Client,
    *,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    workflow_id: str,
    version: int | None,
    context: dict[str, Any],
    correlation_key: str | None,
    metadata: dict[str, Any],
    initiated_by: str | None,
    task_queue: str,
    env: dict[str, str],
    history_limit: int = 5000,
    instance_id: uuid.UUID | None = None,
    eager: bool = False,
    definitions: TtlCache | None = None,
) -> WorkflowInstanceRow:
    """Pins the definition (and the rules it references) and starts the instance's workflow.
    The instance row is inserted here too, so it can be read at once; every later change comes
    from the workflow (whose writes always win: they carry a higher projection_seq).

    A caller that may retry (event dispatch) passes a deterministic `instance_id`: the Temporal
    workflow id then deduplicates the start, and the row insert tolerates the row the first
    attempt's workflow may already have written.

    `eager`: the caller's client has a worker of its own on `task_queue` (server/app.py), so
    Temporal may hand the first workflow task straight back to it. The API passes its
    `definitions` cache (`Caches.workflows`); other callers read the row."""
    definition = await find_definition(session, tenant_id, workflow_id, version, definitions)
    try:
        parsed = definition.parsed
    except ValueError as exc:
        raise BadRequest(f"Workflow definition is invalid: {exc}", code="INVALID_DEFINITION")
    errors = await start_pre_condition_errors(session, tenant_id, definition, context, "en", initiated_by)
    if errors:
        raise Unprocessable(
            "Start pre-conditions failed",
            code="START_PRE_CONDITIONS_FAILED",
            extra={"code": "START_PRE_CONDITIONS_FAILED", "details": {"workflowId": workflow_id, "errors": errors}},
        )
    retryable = instance_id is not None
    instance_id = instance_id or uuid.uuid4()
    header = InstanceHeader(
        instance_id=instance_id,
        tenant_id=tenant_id,
        organization_id=organization_id,
        definition_id=definition.id,
        workflow_id=definition.workflow_id,
        version=definition.version,
        correlation_key=correlation_key,
        metadata={**metadata, "initiatedBy": initiated_by},
    )
    row = WorkflowInstanceRow(
        id=instance_id,
        tenant_id=tenant_id,
        organization_id=organization_id,
        definition_id=definition.id,
        workflow_id=definition.workflow_id,
        version=definition.version,
        status=RUNNING,
        current_step_id=parsed.start_step().step_id,
        context=context,
        correlation_key=correlation_key,
        metadata_=header.metadata,
        started_at=now(),
        projection_seq=0,
    )
    row = await repository.add_instance(session, row, tolerate_existing=retryable)
    start = InstanceStart(
        header=header,
        definition=definition.definition,
        context=context,
        initiated_by=initiated_by,
        rules=await rule_snapshots(session, tenant_id, referenced_rule_ids(definition.definition)),
        env=env,
        task_queue=task_queue,
        history_limit=history_limit,
    )
    # Started before commit: if this fails nothing is recorded; if the commit then fails, the
    # workflow writes the row itself on its first flush.
    try:
        handle = await client.start_workflow(
            WorkflowInstanceWorkflow.run,
            start,
            id=ids.workflow_instance_id(instance_id),
            task_queue=task_queue,
            request_eager_start=eager,
        )
    except WorkflowAlreadyStartedError:
        if not retryable:
            raise
    else:
        metrics.INSTANCES_STARTED.inc(definition=definition.workflow_id)
        if getattr(handle, "__temporal_eagerly_started", False):  # the SDK's own record of it
            metrics.INSTANCES_STARTED_EAGERLY.inc(definition=definition.workflow_id)
    return row


async def get_instance(session: AsyncSession, principal: Principal, instance_id: str) -> WorkflowInstanceRow:
    return await tenant_row(session, principal, WorkflowInstanceRow, instance_id, "Workflow instance not found")


async def list_instances(
    session: AsyncSession, principal: Principal, params: OffsetParams, filters: repository.InstanceFilters
) -> tuple[list[WorkflowInstanceRow], int]:
    return await repository.instances_page(session, principal.tenant_id, params, filters)


async def instance_events(
    session: AsyncSession, principal: Principal, instance_id: str, params: OffsetParams, event_type: str | None
) -> tuple[list[WorkflowEventRow], int]:
    instance = await get_instance(session, principal, instance_id)
    return await repository.instance_events_page(session, instance, params, event_type)


async def list_events(
    session: AsyncSession, principal: Principal, params: PageParams, filters: repository.EventFilters
) -> tuple[list[tuple[WorkflowEventRow, WorkflowInstanceRow]], int]:
    return await repository.events_page(session, principal.tenant_id, params, filters)


async def get_event(
    session: AsyncSession, principal: Principal, event_id: str
) -> tuple[WorkflowEventRow, WorkflowInstanceRow]:
    """The event with its instance (404 for another tenant's)."""
    found = await repository.event_with_instance(session, principal.tenant_id, event_id)
    if found is None:
        raise NotFound("Workflow event not found")
    return found


# ---------------------------------------------------------------- commands


UPDATE_STATUS = {"BAD_REQUEST": BadRequest, "CONFLICT": Conflict, "NOT_FOUND": NotFound, "FORBIDDEN": Forbidden}


async def _update(client: Client, instance_id: uuid.UUID, update: Any, arg: Any, update_id: str | None = None) -> Any:
    """Sends a Workflow Update, named by its typed method reference
    (`WorkflowInstanceWorkflow.signal`, ...), so the name and the result type come from the
    workflow class. A validator's refusal comes back as a 4xx before anything is recorded; an
    instance whose workflow has ended cannot take commands (409). Updates sent with the same
    `update_id` are taken once (Temporal deduplicates them)."""
    handle = client.get_workflow_handle(ids.workflow_instance_id(instance_id))
    try:
        return await handle.execute_update(update, arg, id=update_id)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            error_class = UPDATE_STATUS.get(cause.type or "", BadRequest)
            details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
            raise error_class(cause.message, extra=details)
        raise
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Conflict("Workflow instance is no longer running")
        raise


async def signal(client: Client, instance: WorkflowInstanceRow, request: SignalRequest) -> SignalResult:
    result: SignalResult = await _update(client, instance.id, WorkflowInstanceWorkflow.signal, request)
    return result


async def signal_by_correlation(
    session: AsyncSession, client: Client, principal: Principal, correlation_key: str, request: SignalRequest
) -> int:
    """Signals every waiting instance of the tenant with this key; returns how many resumed."""
    resumed = 0
    for instance_id in await repository.waiting_instance_ids(session, principal.tenant_id, correlation_key):
        try:
            await _update(client, instance_id, WorkflowInstanceWorkflow.signal, request)
        except DomainError:
            continue  # not waiting for this signal
        resumed += 1
    return resumed


ADVANCE_REFUSED = {
    "COMPLETED": "Workflow already completed",
    "CANCELLED": "Workflow is cancelled",
    "COMPENSATED": "Workflow has been compensated",
}


async def advance(client: Client, instance: WorkflowInstanceRow, request: AdvanceRequest) -> InstanceView:
    # A finished instance's workflow is closed and can take no Update: answer as the reference does.
    if instance.status in ADVANCE_REFUSED:
        raise BadRequest(ADVANCE_REFUSED[instance.status])
    result: InstanceView = await _update(client, instance.id, WorkflowInstanceWorkflow.advance_update, request)
    return result


async def cancel(client: Client, instance: WorkflowInstanceRow, user_id: str | None) -> InstanceView:
    if instance.status in TERMINAL_STATUSES:
        raise BadRequest(
            f"Cannot cancel workflow in {instance.status} status. Only running, paused or waiting workflows can be cancelled."
        )
    result: InstanceView = await _update(
        client, instance.id, WorkflowInstanceWorkflow.cancel_update, CommandRequest(user_id=user_id)
    )
    return result


async def retry(client: Client, instance: WorkflowInstanceRow, user_id: str | None) -> InstanceView:
    if instance.status != "FAILED":
        raise BadRequest(f"Cannot retry workflow in {instance.status} status. Only FAILED workflows can be retried.")
    result: InstanceView = await _update(
        client, instance.id, WorkflowInstanceWorkflow.retry_update, CommandRequest(user_id=user_id)
    )
    return result
