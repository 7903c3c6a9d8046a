"""Workflows: definitions, instances (start, signal, advance, cancel, retry), events (user tasks: api/tasks.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query

from api.common import page_params
from api.deps import Res, Session, features_doc, require
from api.forms import json_object
from api.schemas.common import Data, DataMessage, Message, OffsetPage, PositionedPage
from api.schemas.workflows import (
    AdvanceBody,
    AdvancedInstance,
    CorrelationSignalBody,
    Execution,
    InstanceAdvanced,
    InstanceRetried,
    InstanceStarted,
    ListedWorkflowEvent,
    SignalBody,
    SignalSent,
    SignalsSent,
    StartBody,
    StartCheck,
    StartCheckError,
    ValidateStartBody,
    WorkflowDefinition,
    WorkflowEvent,
    WorkflowEventDetail,
    WorkflowInstance,
    changed_definition,
)
from engine.auth.schemas import Principal
from engine.auth.scope import parse_uuid
from engine.clock import now
from engine.db.session import after_commit
from engine.errors import DomainError
from engine.pagination import OffsetParams
from engine.temporal import ids
from engine.workflows import service
from engine.workflows.checker import check_document
from engine.workflows.repository import EventFilters, InstanceFilters
from engine.workflows.schemas import RUNNING, AdvanceRequest, SignalRequest

router = APIRouter(tags=["Workflows"])


def _offset(limit: int, offset: int) -> OffsetParams:
    return OffsetParams(limit=limit, offset=offset)


DefinitionsView = Annotated[Principal, Depends(require("workflows.definitions.view"))]
DefinitionsCreate = Annotated[Principal, Depends(require("workflows.definitions.create"))]
DefinitionsEdit = Annotated[Principal, Depends(require("workflows.definitions.edit"))]
DefinitionsDelete = Annotated[Principal, Depends(require("workflows.definitions.delete"))]
InstancesView = Annotated[Principal, Depends(require("workflows.instances.view"))]
InstancesCreate = Annotated[Principal, Depends(require("workflows.instances.create"))]
InstancesCancel = Annotated[Principal, Depends(require("workflows.instances.cancel"))]
InstancesRetry = Annotated[Principal, Depends(require("workflows.instances.retry"))]
InstancesSignal = Annotated[Principal, Depends(require("workflows.instances.signal"))]
SignalsSend = Annotated[Principal, Depends(require("workflows.signals.send"))]


def _statuses(value: str | None) -> list[str]:
    return [s.strip().upper() for s in (value or "").split(",") if s.strip()]


# ---------------------------------------------------------------- definitions


@router.get(
    "/workflows/definitions/schema",
    summary="JSON Schema of the definition format",
    openapi_extra=features_doc("workflows.definitions.view"),
)
async def definition_schema(_: DefinitionsView) -> dict[str, Any]:
    return service.schema()


@router.get(
    "/workflows/definitions",
    summary="List workflow definitions",
    response_model=OffsetPage[WorkflowDefinition],
    openapi_extra=features_doc("workflows.definitions.view"),
)
async def list_definitions(
    principal: DefinitionsView,
    session: Session,
    workflow_id: Annotated[str | None, Query(alias="workflowId")] = None,
    enabled: bool | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> OffsetPage[WorkflowDefinition]:
    params = _offset(limit, offset)
    rows, total = await service.list_definitions(
        session, principal, params, workflow_id=workflow_id, enabled=enabled, search=search
    )
    return OffsetPage[WorkflowDefinition].of([WorkflowDefinition.of(r) for r in rows], total, params)


@router.post(
    "/workflows/definitions",
    status_code=201,
    summary="Create a workflow definition (or a new version of one)",
    response_model=DataMessage[WorkflowDefinition],
    openapi_extra=features_doc("workflows.definitions.create"),
    responses={
        400: {"description": "Validation failed, with every problem in `details`"},
        409: {"description": "That workflowId and version exist"},
    },
)
async def create_definition(
    principal: DefinitionsCreate, session: Session, body: Annotated[dict[str, Any], Depends(json_object)]
) -> DataMessage[WorkflowDefinition]:
    """Several versions of one `workflowId` coexist; starting without a version takes the highest
    enabled one."""
    row = await service.create_definition(session, principal, check_document(body, now=now()))
    return DataMessage(data=WorkflowDefinition.of(row), message="Workflow definition created successfully")


@router.get(
    "/workflows/definitions/{id}",
    summary="Get a workflow definition",
    response_model=Data[WorkflowDefinition],
    openapi_extra=features_doc("workflows.definitions.view"),
)
async def get_definition(id: str, principal: DefinitionsView, session: Session) -> Data[WorkflowDefinition]:
    return Data(data=WorkflowDefinition.of(await service.get_definition(session, principal, id)))


@router.put(
    "/workflows/definitions/{id}",
    summary="Update a workflow definition",
    response_model=DataMessage[WorkflowDefinition],
    openapi_extra=features_doc("workflows.definitions.edit"),
)
async def update_definition(
    id: str, principal: DefinitionsEdit, session: Session, body: Annotated[dict[str, Any], Depends(json_object)]
) -> DataMessage[WorkflowDefinition]:
    """Running instances keep the definition they started with."""
    row = await service.get_definition(session, principal, id)
    row = await service.update_definition(session, principal, row, changed_definition(row, body))
    return DataMessage(data=WorkflowDefinition.of(row), message="Workflow definition updated successfully")


@router.delete(
    "/workflows/definitions/{id}",
    summary="Delete a workflow definition",
    response_model=Message,
    openapi_extra=features_doc("workflows.definitions.delete"),
)
async def delete_definition(id: str, principal: DefinitionsDelete, session: Session) -> Message:
    """Refused (409) while any instance that uses it has not finished."""
    await service.delete_definition(session, principal, id)
    return Message(message="Workflow definition deleted successfully")


# ---------------------------------------------------------------- instances


@router.post(
    "/workflows/instances",
    status_code=201,
    summary="Start a workflow instance",
    response_model=DataMessage[InstanceStarted],
    openapi_extra=features_doc("workflows.instances.create"),
)
async def start_instance(
    principal: InstancesCreate,
    session: Session,
    res: Res,
    body: StartBody,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=200,
            description="Makes the start safe to retry (e.g. after a lost answer): the same key starts one instance.",
        ),
    ] = None,
) -> DataMessage[InstanceStarted]:
    """Answers with the instance as started (status RUNNING) once it has settled or after
    `WORKFLOW_START_SETTLE_MS` (start admission: engine/workflows/settlement.py); the instance
    runs on Temporal, pinned to the definition version it started with."""
    metadata = {k: v for k, v in body.metadata.items() if k != "initiatedBy"}  # callers can't claim another initiator
    row = await service.start_instance(
        session, await res.temporal_client(), tenant_id=principal.tenant_id, organization_id=principal.organization_id,
        workflow_id=body.workflow_id, version=body.version, context=body.initial_context,
        correlation_key=body.correlation_key, metadata=metadata, initiated_by=str(principal.id),
        task_queue=res.settings.temporal_task_queue, env=service.template_env(res.settings),
        history_limit=res.settings.workflows_history_limit,
        instance_id=ids.instance_id_for_key(principal.tenant_id, idempotency_key) if idempotency_key else None,
        eager=res.hosts_worker, definitions=res.caches.workflows,
    )  # fmt: skip
    if row.status == RUNNING:  # a repeated idempotent start may find its instance settled already
        after_commit(session, res.settlement.expect(row.id))
    return DataMessage(data=InstanceStarted.of(row), message="Workflow started successfully")


@router.post(
    "/workflows/instances/validate-start",
    summary="Check whether an instance could start",
    response_model=StartCheck,
    response_model_exclude_unset=True,
    openapi_extra=features_doc("workflows.instances.view"),
)
async def validate_start(principal: InstancesView, session: Session, body: ValidateStartBody) -> StartCheck:
    """Always 200: `canStart` plus the errors (definition missing/disabled, START pre-conditions)."""
    try:
        row = await service.find_definition(session, principal.tenant_id, body.workflow_id, body.version)
    except DomainError as exc:
        error = StartCheckError(ruleId=f"_{exc.code}", message=exc.message, code=exc.code)
        return StartCheck(canStart=False, workflowId=body.workflow_id, errors=[error])
    errors = await service.start_pre_condition_errors(
        session, principal.tenant_id, row, body.context, body.locale, str(principal.id)
    )
    if not errors:
        return StartCheck(canStart=True, workflowId=body.workflow_id)
    return StartCheck(
        canStart=False, workflowId=body.workflow_id, errors=[StartCheckError.model_validate(e) for e in errors]
    )


@router.get(
    "/workflows/instances",
    summary="List workflow instances",
    response_model=OffsetPage[WorkflowInstance],
    openapi_extra=features_doc("workflows.instances.view"),
)
async def list_instances(
    principal: InstancesView,
    session: Session,
    workflow_id: Annotated[str | None, Query(alias="workflowId")] = None,
    status: str | None = None,
    correlation_key: Annotated[str | None, Query(alias="correlationKey")] = None,
    entity_type: Annotated[str | None, Query(alias="entityType")] = None,
    entity_id: Annotated[str | None, Query(alias="entityId")] = None,
    limit: int = 50,
    offset: int = 0,
) -> OffsetPage[WorkflowInstance]:
    """`status` is a comma-separated list."""
    params = _offset(limit, offset)
    filters = InstanceFilters(
        workflow_id=workflow_id, statuses=tuple(_statuses(status)), correlation_key=correlation_key,
        entity_type=entity_type, entity_id=entity_id,
    )  # fmt: skip
    rows, total = await service.list_instances(session, principal, params, filters)
    return OffsetPage[WorkflowInstance].of([WorkflowInstance.of(r) for r in rows], total, params)


@router.get(
    "/workflows/instances/{id}",
    summary="Get a workflow instance",
    response_model=Data[WorkflowInstance],
    openapi_extra=features_doc("workflows.instances.view"),
)
async def get_instance(id: str, principal: InstancesView, session: Session) -> Data[WorkflowInstance]:
    return Data(data=WorkflowInstance.of(await service.get_instance(session, principal, id)))


@router.get(
    "/workflows/instances/{id}/events",
    summary="Events of one instance",
    response_model=OffsetPage[WorkflowEvent],
    openapi_extra=features_doc("workflows.instances.view"),
)
async def instance_events(
    id: str,
    principal: InstancesView,
    session: Session,
    event_type: Annotated[str | None, Query(alias="eventType")] = None,
    limit: int = 100,
    offset: int = 0,
) -> OffsetPage[WorkflowEvent]:
    params = _offset(limit, offset)
    rows, total = await service.instance_events(session, principal, id, params, event_type)
    return OffsetPage[WorkflowEvent].of([WorkflowEvent.of(r) for r in rows], total, params)


@router.post(
    "/workflows/instances/{id}/cancel",
    summary="Cancel an instance",
    response_model=DataMessage[WorkflowInstance],
    openapi_extra=features_doc("workflows.instances.cancel"),
)
async def cancel_instance(
    id: str, principal: InstancesCancel, session: Session, res: Res
) -> DataMessage[WorkflowInstance]:
    """Cancels its timers, child workflows and open user tasks (they become CANCELLED)."""
    row = await service.get_instance(session, principal, id)
    await service.cancel(await res.temporal_client(), row, str(principal.id))
    row = await service.get_instance(session, principal, id)
    return DataMessage(data=WorkflowInstance.of(row), message="Workflow cancelled successfully")


@router.post(
    "/workflows/instances/{id}/retry",
    summary="Retry a failed instance",
    response_model=DataMessage[InstanceRetried],
    openapi_extra=features_doc("workflows.instances.retry"),
)
async def retry_instance(
    id: str, principal: InstancesRetry, session: Session, res: Res
) -> DataMessage[InstanceRetried]:
    """Resumes from the step that failed, with `retryCount` incremented."""
    row = await service.get_instance(session, principal, id)
    view = await service.retry(await res.temporal_client(), row, str(principal.id))
    instance = WorkflowInstance.of(await service.get_instance(session, principal, id))
    return DataMessage(
        data=InstanceRetried(instance=instance, execution=Execution.of(view)),
        message="Workflow retry initiated successfully",
    )


@router.post(
    "/workflows/instances/{id}/advance",
    summary="Fire a transition by hand",
    response_model=DataMessage[InstanceAdvanced],
    openapi_extra=features_doc("workflows.instances.create"),
)
async def advance_instance(
    id: str, principal: InstancesCreate, session: Session, res: Res, body: AdvanceBody | None = None
) -> DataMessage[InstanceAdvanced]:
    """Fires a transition (any trigger, manual included) from the current step, or the one to
    `toStepId`; answers with the transition fired."""
    body = body or AdvanceBody()
    row = await service.get_instance(session, principal, id)
    view = await service.advance(
        await res.temporal_client(), row,
        AdvanceRequest(to_step_id=body.to_step_id, trigger_data=body.trigger_data, context_updates=body.context_updates, user_id=str(principal.id)),
    )  # fmt: skip
    advanced = InstanceAdvanced(instance=AdvancedInstance.of(view))
    return DataMessage(data=advanced, message="Workflow advanced successfully")


@router.post(
    "/workflows/instances/{id}/signal",
    summary="Send a signal to an instance",
    response_model=SignalSent,
    openapi_extra=features_doc("workflows.instances.signal"),
)
async def signal_instance(
    id: str, principal: InstancesSignal, session: Session, res: Res, body: SignalBody
) -> SignalSent:
    """Rejected before anything is recorded when the name differs from what the instance waits
    for (400), when it is not waiting (409) or unknown (404)."""
    row = await service.get_instance(session, principal, id)
    await service.signal(
        await res.temporal_client(),
        row,
        SignalRequest(signal_name=body.signal_name, payload=body.payload, user_id=str(principal.id)),
    )
    return SignalSent(success=True, message="Signal sent successfully")


@router.post(
    "/workflows/signals",
    summary="Signal every waiting instance with a correlation key",
    response_model=SignalsSent,
    openapi_extra=features_doc("workflows.signals.send"),
)
async def signal_by_correlation(
    principal: SignalsSend, session: Session, res: Res, body: CorrelationSignalBody
) -> SignalsSent:
    """`count` is the number of instances the signal resumed."""
    count = await service.signal_by_correlation(
        session, await res.temporal_client(), principal, body.correlation_key,
        SignalRequest(signal_name=body.signal_name, payload=body.payload, user_id=str(principal.id)),
    )  # fmt: skip
    return SignalsSent(success=True, message=f"Signal sent to {count} workflow(s)", count=count)


# ---------------------------------------------------------------- events


@router.get(
    "/workflows/events",
    summary="Workflow events across instances",
    response_model=PositionedPage[ListedWorkflowEvent],
    openapi_extra=features_doc("workflows.instances.view"),
)
async def list_events(
    principal: InstancesView,
    session: Session,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
    event_type: Annotated[str | None, Query(alias="eventType")] = None,
    workflow_instance_id: Annotated[str | None, Query(alias="workflowInstanceId")] = None,
    user_id: Annotated[str | None, Query(alias="userId")] = None,
    occurred_at_from: Annotated[datetime | None, Query(alias="occurredAtFrom")] = None,
    occurred_at_to: Annotated[datetime | None, Query(alias="occurredAtTo")] = None,
    sort_field: Annotated[str | None, Query(alias="sortField")] = None,
    sort_dir: Annotated[str | None, Query(alias="sortDir")] = None,
) -> PositionedPage[ListedWorkflowEvent]:
    params = page_params(page, page_size)
    filters = EventFilters(
        event_type=event_type, instance_id=parse_uuid(workflow_instance_id, "workflowInstanceId"), user_id=user_id,
        occurred_from=occurred_at_from, occurred_to=occurred_at_to, sort_field=sort_field, sort_dir=sort_dir,
    )  # fmt: skip
    rows, total = await service.list_events(session, principal, params, filters)
    items = [ListedWorkflowEvent.with_instance(event, instance) for event, instance in rows]
    return PositionedPage[ListedWorkflowEvent].of(items, total, params)


@router.get(
    "/workflows/events/{id}",
    summary="One workflow event",
    response_model=WorkflowEventDetail,
    openapi_extra=features_doc("workflows.instances.view"),
)
async def get_event(id: str, principal: InstancesView, session: Session) -> WorkflowEventDetail:
    return WorkflowEventDetail.with_instance(*await service.get_event(session, principal, id))
