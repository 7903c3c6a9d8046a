"""Workflow definitions (CRUD on Postgres), and instance commands (start, signal, advance,
cancel, retry, task claim/complete) sent to each instance's Temporal workflow."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, or_, select, text
from sqlalchemy.dialects.postgresql import array as pg_array
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from engine import metrics
from engine.auth.schemas import Principal
from engine.clock import iso_or_none, now
from engine.db.models import (
    UserTaskRow,
    WorkflowDefinitionRow,
    WorkflowEventRow,
    WorkflowInstanceRow,
)
from engine.db.session import flush_unique
from engine.errors import BadRequest, Conflict, DomainError, Forbidden, NotFound, Unprocessable
from engine.pagination import OffsetParams, PageParams, offset_body, page_body, page_of, sort_order
from engine.rules import pinned
from engine.rules import service as rules
from engine.rules.pinned import CONTEXT_KEY, rule_context
from engine.settings import Settings
from engine.temporal import ids
from engine.workflows import repository
from engine.workflows.checker import validate_definition_document
from engine.workflows.definition import WorkflowDefinition, definition_json_schema
from engine.workflows.interpreter.decisions import allowed_env
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
    TaskCommand,
    TaskView,
)
from engine.workflows.workflows import WorkflowInstanceWorkflow

NON_TERMINAL_FILTER = ~WorkflowInstanceRow.status.in_(TERMINAL_STATUSES)


class ValidationFailed(DomainError):
    status_code = 400
    code = "validation_failed"

    def __init__(self, details: list[Any]) -> None:
        super().__init__("Validation failed", extra={"details": details})


# ---------------------------------------------------------------- definitions


def definition_body(row: WorkflowDefinitionRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "workflowId": row.workflow_id,
        "workflowName": row.workflow_name,
        "description": row.description,
        "version": row.version,
        "definition": row.definition,
        "metadata": row.metadata_,
        "enabled": row.enabled,
        "effectiveFrom": iso_or_none(row.effective_from),
        "effectiveTo": iso_or_none(row.effective_to),
        "tenantId": str(row.tenant_id),
        "organizationId": str(row.organization_id) if row.organization_id else None,
        "createdBy": row.created_by,
        "updatedBy": row.updated_by,
        "createdAt": iso_or_none(row.created_at),
        "updatedAt": iso_or_none(row.updated_at),
    }


def check_document(document: dict[str, Any]) -> dict[str, Any]:
    """The whole create/update document, validated with the complete list of problems."""
    issues = validate_definition_document(document, now=now())
    if issues:
        raise ValidationFailed([dict(issue) for issue in issues])
    return document


async def list_definitions(
    session: AsyncSession,
    principal: Principal,
    params: OffsetParams,
    *,
    workflow_id: str | None,
    enabled: bool | None,
    search: str | None,
) -> dict[str, Any]:
    query = select(WorkflowDefinitionRow).where(
        WorkflowDefinitionRow.tenant_id == principal.tenant_id, WorkflowDefinitionRow.deleted_at.is_(None)
    )
    if workflow_id:
        query = query.where(WorkflowDefinitionRow.workflow_id == workflow_id)
    if enabled is not None:
        query = query.where(WorkflowDefinitionRow.enabled.is_(enabled))
    if search:
        pattern = f"%{search}%"
        query = query.where(
            or_(WorkflowDefinitionRow.workflow_id.ilike(pattern), WorkflowDefinitionRow.workflow_name.ilike(pattern))
        )
    order = (WorkflowDefinitionRow.workflow_name, WorkflowDefinitionRow.version.desc())
    total, page = await page_of(session, query, params, *order)
    return offset_body([definition_body(r) for r in page.scalars()], total, params)


TenantRow = TypeVar("TenantRow", WorkflowDefinitionRow, WorkflowInstanceRow, UserTaskRow)


async def _tenant_row(
    session: AsyncSession, principal: Principal, model: type[TenantRow], row_id: str, not_found: str
) -> TenantRow:
    """The caller's tenant's live row with this id; anything else (bad id, other tenant,
    deleted) is the same 404. Read fresh: the workflow's projection may have just moved it."""
    try:
        key = uuid.UUID(row_id)
    except ValueError:
        raise NotFound(not_found)
    row = await session.get(model, key, populate_existing=True)
    if row is None or row.tenant_id != principal.tenant_id or getattr(row, "deleted_at", None) is not None:
        raise NotFound(not_found)
    return row


async def get_definition(session: AsyncSession, principal: Principal, definition_id: str) -> WorkflowDefinitionRow:
    return await _tenant_row(session, principal, WorkflowDefinitionRow, definition_id, "Workflow definition not found")


async def create_definition(
    session: AsyncSession, principal: Principal, document: dict[str, Any]
) -> WorkflowDefinitionRow:
    check_document(document)
    row = WorkflowDefinitionRow(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        organization_id=principal.organization_id,
        workflow_id=document["workflowId"],
        workflow_name=document["workflowName"],
        description=document.get("description"),
        version=int(document.get("version") or 1),
        definition=document["definition"],
        metadata_=document.get("metadata"),
        enabled=bool(document.get("enabled", True)),
        effective_from=_parse_dt(document.get("effectiveFrom")),
        effective_to=_parse_dt(document.get("effectiveTo")),
        created_by=str(principal.id),
        updated_by=str(principal.id),
    )
    session.add(row)
    await flush_unique(
        session, f'Workflow definition with ID "{row.workflow_id}" and version {row.version} already exists'
    )
    return row


def _parse_dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


UPDATABLE = {
    "workflowName",
    "description",
    "version",
    "definition",
    "metadata",
    "enabled",
    "effectiveFrom",
    "effectiveTo",
}


async def update_definition(
    session: AsyncSession, principal: Principal, definition_id: str, changes: dict[str, Any]
) -> WorkflowDefinitionRow:
    """Edits the row in place. Running instances are unaffected: each runs the snapshot it
    started with."""
    row = await get_definition(session, principal, definition_id)
    unknown = sorted(set(changes) - UPDATABLE - {"workflowId", "id"})
    if unknown:
        raise ValidationFailed(
            [{"code": "unrecognized_keys", "message": f"Unknown field '{k}'", "path": k} for k in unknown]
        )
    document = {
        **definition_body(row),
        **{k: v for k, v in changes.items() if k in UPDATABLE},
        "workflowId": row.workflow_id,
    }
    for key in ("metadata", "description", "effectiveFrom", "effectiveTo"):
        if document.get(key) is None:
            document.pop(key, None)
    check_document({k: v for k, v in document.items() if k in UPDATABLE | {"workflowId"}})
    row.workflow_name = document["workflowName"]
    row.description = document.get("description")
    row.version = int(document["version"])
    row.definition = document["definition"]
    row.metadata_ = document.get("metadata")
    row.enabled = bool(document["enabled"])
    row.effective_from = _parse_dt(document.get("effectiveFrom"))
    row.effective_to = _parse_dt(document.get("effectiveTo"))
    row.updated_by = str(principal.id)
    await flush_unique(
        session, f'Workflow definition with ID "{row.workflow_id}" and version {row.version} already exists'
    )
    return row


async def delete_definition(session: AsyncSession, principal: Principal, definition_id: str) -> None:
    row = await get_definition(session, principal, definition_id)
    active = await session.scalar(
        select(func.count()).where(WorkflowInstanceRow.definition_id == row.id, NON_TERMINAL_FILTER)
    )
    if active:
        raise Conflict(f"Cannot delete workflow definition with {active} active instance(s)")
    row.deleted_at = now()
    await session.flush()


def schema() -> dict[str, Any]:
    return definition_json_schema()


async def find_definition(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: str, version: int | None
) -> WorkflowDefinitionRow:
    """The exact version when given (404 if absent, 400 if disabled), else the highest enabled one."""
    query = select(WorkflowDefinitionRow).where(
        WorkflowDefinitionRow.tenant_id == tenant_id,
        WorkflowDefinitionRow.workflow_id == workflow_id,
        WorkflowDefinitionRow.deleted_at.is_(None),
    )
    if version is not None:
        row = await session.scalar(query.where(WorkflowDefinitionRow.version == version))
        if row is None:
            raise NotFound(
                f"Workflow definition '{workflow_id}' version {version} not found", code="DEFINITION_NOT_FOUND"
            )
        if not row.enabled:
            raise BadRequest(
                f"Workflow definition '{workflow_id}' version {version} is disabled", code="DEFINITION_DISABLED"
            )
        return row
    row = await session.scalar(
        query.where(WorkflowDefinitionRow.enabled.is_(True)).order_by(WorkflowDefinitionRow.version.desc()).limit(1)
    )
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
    row: WorkflowDefinitionRow,
    context: dict[str, Any],
    locale: str,
    initiated_by: str | None = None,
) -> list[dict[str, Any]]:
    """Errors of the START step's required pre-conditions for this context (reference §2.12.4),
    evaluated by the one pinned-rule evaluator (`engine.rules.pinned`): the same checks, effective
    window and `$context` as the pre-conditions inside the workflow."""
    try:
        start = WorkflowDefinition.model_validate(row.definition).start_step()
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


def instance_body(row: WorkflowInstanceRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "definitionId": str(row.definition_id),
        "workflowId": row.workflow_id,
        "version": row.version,
        "status": row.status,
        "currentStepId": row.current_step_id,
        "previousStepId": row.previous_step_id,
        "context": row.context,
        "correlationKey": row.correlation_key,
        "metadata": row.metadata_,
        "startedAt": iso_or_none(row.started_at),
        "completedAt": iso_or_none(row.completed_at),
        "pausedAt": iso_or_none(row.paused_at),
        "cancelledAt": iso_or_none(row.cancelled_at),
        "errorMessage": row.error_message,
        "errorDetails": row.error_details,
        "pendingTransition": row.pending_transition,
        "activeForkStepId": row.active_fork_step_id,
        "retryCount": row.retry_count,
        "parentInstanceId": str(row.parent_instance_id) if row.parent_instance_id else None,
        "tenantId": str(row.tenant_id),
        "organizationId": str(row.organization_id) if row.organization_id else None,
        "createdAt": iso_or_none(row.created_at),
        "updatedAt": iso_or_none(row.updated_at),
    }


async def concurrency_limit_reached(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: str, limit: int | None
) -> int | None:
    """A trigger's maxConcurrentInstances: the number of active instances when the workflow is at
    its limit, else None. Serialized per tenant + workflowId by a transaction-scoped advisory lock,
    so two dispatches cannot both take the last slot: call it in the transaction that inserts the
    instance row."""
    if limit is None:
        return None
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"workflow-trigger-limit:{tenant_id}:{workflow_id}"},
    )
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
) -> WorkflowInstanceRow:
    """Pins the definition (and the rules it references) and starts the instance's workflow.
    The instance row is inserted here too, so it can be read at once; every later change comes
    from the workflow (whose writes always win: they carry a higher projection_seq).

    A caller that may retry (event dispatch) passes a deterministic `instance_id`: the Temporal
    workflow id then deduplicates the start, and the row insert tolerates the row the first
    attempt's workflow may already have written."""
    definition = await find_definition(session, tenant_id, workflow_id, version)
    try:
        parsed = WorkflowDefinition.model_validate(definition.definition)
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
    if retryable:
        values = {
            c.key: getattr(row, c.key)
            for c in WorkflowInstanceRow.__mapper__.column_attrs
            if getattr(row, c.key) is not None  # unset: the column defaults apply
        }
        await session.execute(
            pg_insert(WorkflowInstanceRow)
            .values(values)
            .on_conflict_do_nothing(index_elements=[WorkflowInstanceRow.id])
        )
    else:
        session.add(row)
        await session.flush()
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
        await client.start_workflow(
            WorkflowInstanceWorkflow.run, start, id=ids.workflow_instance_id(instance_id), task_queue=task_queue
        )
    except WorkflowAlreadyStartedError:
        if not retryable:
            raise
    else:
        metrics.INSTANCES_STARTED.inc(definition=definition.workflow_id)
    return row


async def get_instance(session: AsyncSession, principal: Principal, instance_id: str) -> WorkflowInstanceRow:
    return await _tenant_row(session, principal, WorkflowInstanceRow, instance_id, "Workflow instance not found")


async def list_instances(
    session: AsyncSession,
    principal: Principal,
    params: OffsetParams,
    *,
    workflow_id: str | None,
    statuses: list[str],
    correlation_key: str | None,
    entity_type: str | None,
    entity_id: str | None,
) -> dict[str, Any]:
    query = select(WorkflowInstanceRow).where(WorkflowInstanceRow.tenant_id == principal.tenant_id)
    if workflow_id:
        query = query.where(WorkflowInstanceRow.workflow_id == workflow_id)
    if statuses:
        query = query.where(WorkflowInstanceRow.status.in_(statuses))
    if correlation_key:
        query = query.where(WorkflowInstanceRow.correlation_key == correlation_key)
    if entity_type:
        query = query.where(WorkflowInstanceRow.metadata_["entityType"].astext == entity_type)
    if entity_id:
        query = query.where(WorkflowInstanceRow.metadata_["entityId"].astext == entity_id)
    total, page = await page_of(session, query, params, WorkflowInstanceRow.created_at.desc())
    return offset_body([instance_body(r) for r in page.scalars()], total, params)


def event_body(row: WorkflowEventRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "workflowInstanceId": str(row.workflow_instance_id),
        "stepInstanceId": str(row.step_instance_id) if row.step_instance_id else None,
        "branchKey": row.branch_key,
        "eventType": row.event_type,
        "eventData": row.event_data,
        "occurredAt": iso_or_none(row.occurred_at),
        "userId": row.user_id,
        "tenantId": str(row.tenant_id),
        "organizationId": str(row.organization_id) if row.organization_id else None,
    }


async def instance_events(
    session: AsyncSession, principal: Principal, instance_id: str, params: OffsetParams, event_type: str | None
) -> dict[str, Any]:
    instance = await get_instance(session, principal, instance_id)
    query = select(WorkflowEventRow).where(WorkflowEventRow.workflow_instance_id == instance.id)
    if event_type:
        query = query.where(WorkflowEventRow.event_type == event_type)
    total, page = await page_of(session, query, params, WorkflowEventRow.seq.desc())
    return offset_body([event_body(r) for r in page.scalars()], total, params)


EVENT_SORT = {"occurredAt": WorkflowEventRow.occurred_at, "eventType": WorkflowEventRow.event_type}


async def list_events(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    event_type: str | None,
    instance_id: uuid.UUID | None,
    user_id: str | None,
    occurred_from: datetime | None,
    occurred_to: datetime | None,
    sort_field: str | None,
    sort_dir: str | None,
) -> dict[str, Any]:
    query = (
        select(WorkflowEventRow, WorkflowInstanceRow)
        .join(WorkflowInstanceRow, WorkflowInstanceRow.id == WorkflowEventRow.workflow_instance_id)
        .where(WorkflowEventRow.tenant_id == principal.tenant_id)
    )
    if event_type:
        query = query.where(WorkflowEventRow.event_type == event_type)
    if instance_id:
        query = query.where(WorkflowEventRow.workflow_instance_id == instance_id)
    if user_id:
        query = query.where(WorkflowEventRow.user_id == user_id)
    if occurred_from:
        query = query.where(WorkflowEventRow.occurred_at >= occurred_from)
    if occurred_to:
        query = query.where(WorkflowEventRow.occurred_at <= occurred_to)
    order = sort_order(EVENT_SORT, sort_field, sort_dir, default="occurredAt", default_dir="desc")
    total, page = await page_of(session, query, params, order, WorkflowEventRow.id.desc())
    rows = page.all()
    items = [
        {
            **event_body(event),
            "workflowInstance": {
                "id": str(inst.id),
                "workflowId": inst.workflow_id,
                "workflowName": inst.workflow_id,
                "status": inst.status,
            },
        }
        for event, inst in rows
    ]
    return page_body(items, total, params)


async def get_event(session: AsyncSession, principal: Principal, event_id: str) -> dict[str, Any]:
    try:
        key = int(event_id)
    except ValueError:
        raise NotFound("Workflow event not found")
    event = await session.get(WorkflowEventRow, key)
    if event is None or event.tenant_id != principal.tenant_id:
        raise NotFound("Workflow event not found")
    inst = await session.get(WorkflowInstanceRow, event.workflow_instance_id)
    assert inst is not None
    return {
        **event_body(event),
        "workflowInstance": {
            "id": str(inst.id), "workflowId": inst.workflow_id, "version": inst.version, "status": inst.status,
            "currentStepId": inst.current_step_id, "correlationKey": inst.correlation_key,
            "startedAt": iso_or_none(inst.started_at), "completedAt": iso_or_none(inst.completed_at), "context": inst.context,
        },
    }  # fmt: skip


# ---------------------------------------------------------------- commands


UPDATE_STATUS = {"BAD_REQUEST": BadRequest, "CONFLICT": Conflict, "NOT_FOUND": NotFound, "FORBIDDEN": Forbidden}


async def _update(client: Client, instance_id: uuid.UUID, update: Any, arg: Any) -> Any:
    """Sends a Workflow Update, named by its typed method reference
    (`WorkflowInstanceWorkflow.signal`, ...), so the name and the result type come from the
    workflow class. A validator's refusal comes back as a 4xx before anything is recorded; an
    instance whose workflow has ended cannot take commands (409)."""
    handle = client.get_workflow_handle(ids.workflow_instance_id(instance_id))
    try:
        return await handle.execute_update(update, arg)
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
    ids = (
        await session.scalars(
            select(WorkflowInstanceRow.id).where(
                WorkflowInstanceRow.tenant_id == principal.tenant_id,
                WorkflowInstanceRow.correlation_key == correlation_key,
                WorkflowInstanceRow.status.in_(("PAUSED", "FORKED")),
            )
        )
    ).all()
    resumed = 0
    for instance_id in ids:
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


# ---------------------------------------------------------------- tasks


def task_body(row: UserTaskRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "workflowInstanceId": str(row.workflow_instance_id),
        "stepInstanceId": str(row.step_instance_id) if row.step_instance_id else None,
        "branchKey": row.branch_key,
        "taskName": row.task_name,
        "description": row.description,
        "status": row.status,
        "formSchema": row.form_schema,
        "formData": row.form_data,
        "assignedTo": row.assigned_to,
        "assignedToRoles": row.assigned_to_roles,
        "claimedBy": row.claimed_by,
        "claimedAt": iso_or_none(row.claimed_at),
        "dueDate": iso_or_none(row.due_date),
        "escalatedAt": iso_or_none(row.escalated_at),
        "escalatedTo": row.escalated_to,
        "completedBy": row.completed_by,
        "completedAt": iso_or_none(row.completed_at),
        "comments": row.comments,
        "tenantId": str(row.tenant_id),
        "organizationId": str(row.organization_id) if row.organization_id else None,
        "createdAt": iso_or_none(row.created_at),
        "updatedAt": iso_or_none(row.updated_at),
    }


async def get_task(session: AsyncSession, principal: Principal, task_id: str) -> UserTaskRow:
    return await _tenant_row(session, principal, UserTaskRow, task_id, "Task not found")


async def list_tasks(
    session: AsyncSession,
    principal: Principal,
    params: OffsetParams,
    *,
    statuses: list[str],
    assigned_to: str | None,
    instance_id: uuid.UUID | None,
    overdue: bool,
    my_tasks: bool,
) -> dict[str, Any]:
    query = select(UserTaskRow).where(UserTaskRow.tenant_id == principal.tenant_id)
    if statuses:
        query = query.where(UserTaskRow.status.in_(statuses))
    if assigned_to:
        query = query.where(UserTaskRow.assigned_to == assigned_to)
    if instance_id:
        query = query.where(UserTaskRow.workflow_instance_id == instance_id)
    if overdue:
        query = query.where(UserTaskRow.due_date < now(), UserTaskRow.status.in_(("PENDING", "IN_PROGRESS")))
    if my_tasks:
        conditions = [UserTaskRow.assigned_to == str(principal.id)]
        if principal.role_names:
            # jsonb ?| text[]: the task's role queue shares a role with the caller.
            conditions.append(UserTaskRow.assigned_to_roles.op("?|")(pg_array(list(principal.role_names))))
        query = query.where(or_(*conditions))
    total, page = await page_of(session, query, params, UserTaskRow.created_at.desc(), UserTaskRow.id)
    return offset_body([task_body(r) for r in page.scalars()], total, params)


async def task_command(
    client: Client,
    principal: Principal,
    task: UserTaskRow,
    name: str,
    form_data: dict[str, Any] | None = None,
    comments: str | None = None,
) -> dict[str, Any]:
    command = TaskCommand(
        task_id=task.id, user_id=str(principal.id), user_roles=list(principal.role_names),
        form_data=form_data or {}, comments=comments,
    )  # fmt: skip
    update = {
        "complete_task": WorkflowInstanceWorkflow.complete_task,
        "claim_task": WorkflowInstanceWorkflow.claim_task,
    }
    view: TaskView = await _update(client, task.workflow_instance_id, update[name], command)
    metrics.TASK_COMMANDS.inc(command=name)
    return {**task_body(task), **_camel_task(view.task)}


def _camel_task(task: dict[str, Any]) -> dict[str, Any]:
    keys = {
        "status": "status", "form_data": "formData", "claimed_by": "claimedBy", "claimed_at": "claimedAt",
        "completed_by": "completedBy", "completed_at": "completedAt", "comments": "comments",
    }  # fmt: skip
    return {camel: task.get(snake) for snake, camel in keys.items()}
