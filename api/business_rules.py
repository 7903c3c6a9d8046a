"""Business Rules: rules, rule sets and members, execution (by context, by rule UUID, by rule set)
and execution logs. Everything is scoped to the caller's tenant and organization; another
tenant's or organization's records answer 404."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Caller, Res, Session, caller, features_doc, require
from api.forms import json_object
from api.schemas.business_rules import (
    ExecutionLog,
    ExecutionLogDetail,
    Rule,
    RuleExecution,
    RuleSet,
    RuleSetDetail,
    RuleSetExecution,
    RuleSummary,
    SingleRuleExecution,
)
from api.schemas.common import Created, Ok, Page
from engine.auth.schemas import Principal
from engine.db.session import after_commit
from engine.errors import BadRequest
from engine.pagination import PageParams, page_body
from engine.rules import service
from engine.rules.actions import Effects
from engine.rules.schemas import (
    ExecuteByIdRequest,
    ExecuteRequest,
    MemberAdd,
    MemberUpdate,
    RuleCreate,
    RuleSetCreate,
    RuleSetUpdate,
    RuleUpdate,
    parse_body,
)

router = APIRouter(tags=["Business Rules"])
log = logging.getLogger("covo.api")

View = Annotated[Principal, Depends(require("business_rules.view"))]
Manage = Annotated[Principal, Depends(require("business_rules.manage"))]
ManageSets = Annotated[Principal, Depends(require("business_rules.manage_sets"))]
Execute = Annotated[Principal, Depends(require("business_rules.execute"))]
ViewLogs = Annotated[Principal, Depends(require("business_rules.view_logs"))]
Body = Annotated[dict[str, Any], Depends(json_object)]
M = TypeVar("M", bound=BaseModel)


def parsed(model: type[M], *, id_required: str | None = None) -> Callable[[Request], Awaitable[M]]:
    """A dependency giving the JSON body as `model`. Validation happens here rather than by
    FastAPI so that errors keep the reference's `Validation failed: <path>: <message>` wording
    (engine.rules.schemas.parse_body); `id_required` is the 400 when the body has no `id`."""

    async def dependency(request: Request) -> M:
        body = await json_object(request)
        if id_required and not body.get("id"):
            raise BadRequest(id_required)
        return parse_body(model, body)

    return dependency


T = TypeVar("T")


def rules_page(items: list[T], total: int, params: PageParams) -> Page[T]:
    """The business-rules lists: `{items, total, totalPages}`, an empty list still has one page."""
    return Page[T].model_validate(page_body(items, total, params, with_page=False, min_pages=1))


LockHeader = Annotated[
    str | None,
    Header(
        alias=service.LOCK_HEADER,
        description="Optimistic lock: the `updatedAt` you last read; a stale value answers 409 `record_modified`.",
    ),
]

LOCK_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Optimistic lock conflict",
        "content": {
            "application/json": {
                "example": {
                    "error": "record_modified",
                    "code": "optimistic_lock_conflict",
                    "currentUpdatedAt": "2026-01-01T10:00:00.000000+00:00",
                    "expectedUpdatedAt": "2026-01-01T09:00:00.000Z",
                }
            }
        },
    }
}


def with_lock(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    return {**responses, **LOCK_CONFLICT}


def doc(feature: str, body: type[BaseModel] | None = None) -> dict[str, Any]:
    """OpenAPI extras: the required feature and, for JSON bodies validated in the service (so
    errors read `Validation failed: <path>: <message>`), the body's schema."""
    extra = features_doc(feature)
    if body is not None:
        schema = body.model_json_schema(by_alias=True)
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return extra


async def _after_commit(session: AsyncSession, res: Res, effects: Effects) -> None:
    """Registers the dispatch of emitted events and the start of webhook workflows to run after
    the request's commit. Temporal is reached now, so an unreachable server still shows in the
    answer (the webhooks' `status: failed`)."""
    if not effects:
        return
    try:
        client = await res.temporal_client()
    except Exception as exc:
        log.exception("rule effects not dispatched: Temporal unavailable")
        for _, result in effects.webhooks:
            result.update(status="failed", error=f"Could not start webhook delivery: {exc}")
        return
    after_commit(
        session, functools.partial(service.dispatch_effects, client, res.settings.temporal_task_queue, effects)
    )


# ---------------------------------------------------------------- rules


@router.get(
    "/business_rules/rules",
    response_model=Page[RuleSummary],
    summary="List business rules",
    openapi_extra=doc("business_rules.view"),
)
async def list_rules(
    principal: View,
    session: Session,
    id: str | None = None,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
    search: str | None = None,
    rule_id: Annotated[str | None, Query(alias="ruleId")] = None,
    rule_type: Annotated[str | None, Query(alias="ruleType")] = None,
    entity_type: Annotated[str | None, Query(alias="entityType")] = None,
    event_type: Annotated[str | None, Query(alias="eventType")] = None,
    enabled: bool | None = None,
    rule_category: Annotated[str | None, Query(alias="ruleCategory")] = None,
    sort_field: Annotated[str | None, Query(alias="sortField")] = None,
    sort_dir: Annotated[str | None, Query(alias="sortDir")] = None,
) -> Page[RuleSummary]:
    """`search` matches ruleName, `ruleId` matches the key (both case-insensitive substrings).
    Sorted by `sortField` (ruleId, ruleName, ruleType, entityType, priority, createdAt, updatedAt;
    default priority) in `sortDir` (default desc), then ruleId. `pageSize` ≤ 100."""
    params = service.page_params(page, page_size)
    rows, total = await service.list_rules(
        session, principal, params, rule_uuid=id, search=search, rule_id=rule_id, rule_type=rule_type,
        entity_type=entity_type, event_type=event_type, enabled=enabled, rule_category=rule_category,
        sort_field=sort_field, sort_dir=sort_dir,
    )  # fmt: skip
    return rules_page([RuleSummary.model_validate(row) for row in rows], total, params)


@router.post(
    "/business_rules/rules",
    status_code=201,
    response_model=Created,
    summary="Create business rule",
    openapi_extra=doc("business_rules.manage", RuleCreate),
    responses={400: {"description": "Validation failed"}, 409: {"description": "ruleId already used in the tenant"}},
)
async def create_rule(
    principal: Manage, session: Session, body: Annotated[RuleCreate, Depends(parsed(RuleCreate))]
) -> Created:
    """`conditionExpression` is JsonLogic or a reference condition tree (translated to JsonLogic
    on save; `conditionDialect` records which). Tenant, organization and author come from the
    caller."""
    row = await service.create_rule(session, principal, body)
    return Created(id=str(row.id))


@router.put(
    "/business_rules/rules",
    response_model=Ok,
    summary="Update business rule",
    openapi_extra=doc("business_rules.manage", RuleUpdate),
    responses=with_lock(
        {400: {"description": "Rule id is required / validation"}, 404: {"description": "Rule not found"}}
    ),
)
async def update_rule(
    principal: Manage,
    session: Session,
    body: Annotated[RuleUpdate, Depends(parsed(RuleUpdate, id_required="Rule id is required"))],
    lock: LockHeader = None,
) -> Ok:
    """Partial update: only the fields sent change."""
    await service.update_rule(session, principal, body, lock)
    return Ok(ok=True)


@router.delete(
    "/business_rules/rules",
    response_model=Ok,
    summary="Delete business rule",
    openapi_extra=doc("business_rules.manage"),
    responses=with_lock({400: {"description": "Invalid identifier"}, 404: {"description": "Rule not found"}}),
)
async def delete_rule(principal: Manage, session: Session, id: str | None = None, lock: LockHeader = None) -> Ok:
    """Soft delete: the rule stops running and its `ruleId` can be reused; logs stay."""
    await service.delete_rule(session, principal, id, lock)
    return Ok(ok=True)


@router.get(
    "/business_rules/rules/{id}",
    response_model=Rule,
    summary="Fetch business rule by ID",
    openapi_extra=doc("business_rules.view"),
    responses={400: {"description": "Invalid rule id"}, 404: {"description": "Rule not found"}},
)
async def get_rule(id: str, principal: View, session: Session) -> Rule:
    return Rule.model_validate(await service.get_rule(session, principal, id))


# ---------------------------------------------------------------- execution


@router.post(
    "/business_rules/execute",
    response_model=RuleExecution,
    response_model_exclude_unset=True,
    summary="Execute rules for given context",
    openapi_extra=doc("business_rules.execute", ExecuteRequest),
    responses={400: {"description": "Invalid request payload"}},
)
async def execute(
    call: Annotated[Caller, Depends(caller("business_rules.execute"), scope="function")],
    body: Annotated[ExecuteRequest, Depends(parsed(ExecuteRequest))],
) -> dict[str, Any]:
    """Runs the enabled, effective rules for `entityType` (and `eventType`, when given) in
    priority order (desc, then ruleId), at most 100. `allowed` is false when a GUARD fails (unless
    its failure actions ALLOW_TRANSITION) or any rule runs BLOCK_TRANSITION; `output` holds the
    fields SET_FIELD actions set; `messages` the SHOW_* messages; `errors` rule errors and the
    messages of failing VALIDATION rules. `dryRun` evaluates and computes actions without logs or
    side effects (no notifications, events, webhooks)."""
    result, effects = await service.execute(call.session, call.principal, body, call.res.caches.discovery)
    await _after_commit(call.session, call.res, effects)
    return result


@router.post(
    "/business_rules/execute/{ruleId}",
    response_model=SingleRuleExecution,
    response_model_exclude_unset=True,
    summary="Execute a specific rule by its database UUID",
    openapi_extra=doc("business_rules.execute", ExecuteByIdRequest),
    responses={400: {"description": "Invalid rule ID"}, 404: {"description": "Rule not found"}},
)
async def execute_by_id(ruleId: str, principal: Execute, session: Session, res: Res, body: Body) -> dict[str, Any]:
    """200 even when the rule cannot run (`success: false` with `error`: disabled, not yet
    effective, expired, evaluation failed). `entityType`/`eventType` default to the rule's own."""
    rule_uuid = service.parse_id(ruleId, "Invalid rule ID")
    request = parse_body(ExecuteByIdRequest, body)
    result, effects = await service.execute_by_id(session, principal, rule_uuid, request)
    await _after_commit(session, res, effects)
    return result


# ---------------------------------------------------------------- rule sets


@router.get(
    "/business_rules/sets",
    response_model=Page[RuleSet],
    summary="List rule sets",
    openapi_extra=doc("business_rules.view"),
)
async def list_sets(
    principal: View,
    session: Session,
    id: str | None = None,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
    search: str | None = None,
    set_id: Annotated[str | None, Query(alias="setId")] = None,
    enabled: bool | None = None,
    sort_field: Annotated[str | None, Query(alias="sortField")] = None,
    sort_dir: Annotated[str | None, Query(alias="sortDir")] = None,
) -> Page[RuleSet]:
    """Sorted by `sortField` (setId, setName, enabled, createdAt, updatedAt; default setId) in
    `sortDir` (default asc)."""
    params = service.page_params(page, page_size)
    rows, total = await service.list_sets(
        session, principal, params, set_uuid=id, search=search, set_id=set_id, enabled=enabled,
        sort_field=sort_field, sort_dir=sort_dir,
    )  # fmt: skip
    return rules_page([RuleSet.model_validate(row) for row in rows], total, params)


@router.post(
    "/business_rules/sets",
    status_code=201,
    response_model=Created,
    summary="Create rule set",
    openapi_extra=doc("business_rules.manage_sets", RuleSetCreate),
    responses={400: {"description": "Validation failed"}, 409: {"description": "setId already used in the tenant"}},
)
async def create_set(
    principal: ManageSets, session: Session, body: Annotated[RuleSetCreate, Depends(parsed(RuleSetCreate))]
) -> Created:
    row = await service.create_set(session, principal, body)
    return Created(id=str(row.id))


@router.put(
    "/business_rules/sets",
    response_model=Ok,
    summary="Update rule set",
    openapi_extra=doc("business_rules.manage_sets", RuleSetUpdate),
    responses=with_lock({400: {"description": "Rule set id is required"}, 404: {"description": "Rule set not found"}}),
)
async def update_set(
    principal: ManageSets,
    session: Session,
    body: Annotated[RuleSetUpdate, Depends(parsed(RuleSetUpdate, id_required="Rule set id is required"))],
    lock: LockHeader = None,
) -> Ok:
    await service.update_set(session, principal, body, lock)
    return Ok(ok=True)


@router.delete(
    "/business_rules/sets",
    response_model=Ok,
    summary="Delete rule set",
    openapi_extra=doc("business_rules.manage_sets"),
    responses=with_lock({400: {"description": "Invalid identifier"}, 404: {"description": "Rule set not found"}}),
)
async def delete_set(principal: ManageSets, session: Session, id: str | None = None, lock: LockHeader = None) -> Ok:
    """Soft delete; members are left untouched."""
    await service.delete_set(session, principal, id, lock)
    return Ok(ok=True)


@router.get(
    "/business_rules/sets/{id}",
    response_model=RuleSetDetail,
    summary="Get rule set detail",
    openapi_extra=doc("business_rules.view"),
    responses={400: {"description": "Invalid rule set id"}, 404: {"description": "Rule set not found"}},
)
async def get_set(id: str, principal: View, session: Session) -> RuleSetDetail:
    """`members` ordered by sequence; `ruleId` is the rule's UUID, `ruleKey` its string ruleId."""
    rule_set = await service.get_set(session, principal, id)
    return RuleSetDetail.with_members(rule_set, await service.set_members(session, rule_set))


@router.post(
    "/business_rules/sets/{id}/members",
    status_code=201,
    response_model=Created,
    summary="Add rule to set",
    openapi_extra=doc("business_rules.manage_sets", MemberAdd),
    responses={
        400: {"description": "Invalid payload"},
        404: {"description": "Rule set or rule not found"},
        409: {"description": "Rule already in set"},
    },
)
async def add_member(id: str, principal: ManageSets, session: Session, body: Body) -> Created:
    # The set is looked up before the body is validated (an unknown set answers 404 first).
    rule_set = await service.get_set(session, principal, id)
    member = await service.add_member(session, principal, rule_set, parse_body(MemberAdd, body))
    return Created(id=str(member.id))


@router.put(
    "/business_rules/sets/{id}/members",
    response_model=Ok,
    summary="Update set member",
    openapi_extra=doc("business_rules.manage_sets", MemberUpdate),
    responses={400: {"description": "Invalid payload"}, 404: {"description": "Member not found"}},
)
async def update_member(
    id: str, principal: ManageSets, session: Session, body: Annotated[MemberUpdate, Depends(parsed(MemberUpdate))]
) -> Ok:
    await service.update_member(session, principal, id, body)
    return Ok(ok=True)


@router.delete(
    "/business_rules/sets/{id}/members",
    response_model=Ok,
    summary="Remove rule from set",
    openapi_extra=doc("business_rules.manage_sets"),
    responses={400: {"description": "Invalid identifier"}, 404: {"description": "Member not found"}},
)
async def remove_member(
    id: str, principal: ManageSets, session: Session, member_id: Annotated[str | None, Query(alias="memberId")] = None
) -> Ok:
    """Hard delete of the membership (the rule stays)."""
    await service.remove_member(session, principal, id, member_id)
    return Ok(ok=True)


@router.post(
    "/business_rules/sets/{id}/execute",
    response_model=RuleSetExecution,
    response_model_exclude_unset=True,
    summary="Execute a rule set (beyond the reference contract)",
    openapi_extra=doc("business_rules.execute", ExecuteByIdRequest),
    responses={400: {"description": "Invalid payload"}, 404: {"description": "Rule set not found"}},
)
async def execute_set(id: str, principal: Execute, session: Session, res: Res, body: Body) -> dict[str, Any]:
    """Runs the set's enabled members whose rules are enabled and effective, in member `sequence`
    order (then priority desc, ruleId), at most 100. Same body and response as
    `POST /business_rules/execute` (plus `setId`); `entityType` is optional (each rule's own is
    logged when omitted). A disabled set runs nothing: `allowed: false`, `errors: ["Rule set is
    disabled"]`."""
    rule_set = await service.get_set(session, principal, id)
    result, effects = await service.execute_set(session, principal, rule_set, parse_body(ExecuteByIdRequest, body))
    await _after_commit(session, res, effects)
    return result


# ---------------------------------------------------------------- logs


@router.get(
    "/business_rules/logs",
    response_model=Page[ExecutionLog],
    summary="List rule execution logs",
    openapi_extra=doc("business_rules.view_logs"),
)
async def list_logs(
    principal: ViewLogs,
    session: Session,
    id: str | None = None,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
    rule_id: Annotated[str | None, Query(alias="ruleId")] = None,
    entity_id: Annotated[str | None, Query(alias="entityId")] = None,
    entity_type: Annotated[str | None, Query(alias="entityType")] = None,
    execution_result: Annotated[str | None, Query(alias="executionResult")] = None,
    executed_by: Annotated[str | None, Query(alias="executedBy")] = None,
    executed_at_from: Annotated[datetime | None, Query(alias="executedAtFrom")] = None,
    executed_at_to: Annotated[datetime | None, Query(alias="executedAtTo")] = None,
    sort_field: Annotated[str | None, Query(alias="sortField")] = None,
    sort_dir: Annotated[str | None, Query(alias="sortDir")] = None,
) -> Page[ExecutionLog]:
    """`ruleId` is the rule's UUID; `executionResult` SUCCESS | FAILURE | ERROR. Sorted by
    `sortField` (id, ruleId, entityType, executionResult, executionTimeMs, executedAt; default
    executedAt) in `sortDir` (default desc). Sensitive input values are stored as `[REDACTED]`."""
    params = service.page_params(page, page_size)
    rows, total = await service.list_logs(
        session, principal, params, log_id=id, rule_id=rule_id, entity_id=entity_id, entity_type=entity_type,
        execution_result=execution_result, executed_by=executed_by, executed_from=executed_at_from,
        executed_to=executed_at_to, sort_field=sort_field, sort_dir=sort_dir,
    )  # fmt: skip
    return rules_page([ExecutionLog.of(entry, rule) for entry, rule in rows], total, params)


@router.get(
    "/business_rules/logs/{id}",
    response_model=ExecutionLogDetail,
    summary="Get execution log detail",
    openapi_extra=doc("business_rules.view_logs"),
    responses={400: {"description": "Invalid log id"}, 404: {"description": "Log entry not found"}},
)
async def get_log(id: str, principal: ViewLogs, session: Session) -> ExecutionLogDetail:
    return ExecutionLogDetail.of(*await service.get_log(session, principal, id))
