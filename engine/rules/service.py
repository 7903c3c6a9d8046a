"""Business rules: rules and rule sets (CRUD, tenant + organization scoped), execution (discovery
by entityType/eventType, by rule UUID, by rule set, on domain events), execution logs, and the
public functions the workflow engine and the event bus use (`snapshots_for`, `run_for_event`,
`write_logs`).

Scope: every read and write is limited to the caller's tenant and *exactly* its organization
(reference §1 "Organization (business_rules)"); another tenant's or organization's records answer
404. Logs are filtered by organization only when the caller has one."""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import BindParameter, ColumnElement, Select, and_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from engine.auth.schemas import Principal
from engine.clock import iso_or_none, now
from engine.db.base import utcnow
from engine.db.models import BusinessRuleRow, RuleExecutionLogRow, RuleSetMemberRow, RuleSetRow, SideEffectRow
from engine.db.session import after_commit, flush_unique
from engine.errors import BadRequest, Conflict, NotFound
from engine.events import service as events
from engine.invalidation import TtlCache
from engine.pagination import PageParams, page_body, page_of, sort_order
from engine.rules.actions import MAX_EVENT_CHAIN, Effects
from engine.rules.discovery import DISCOVERY_ORDER, cached_versions, scope_conditions
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
from engine.rules.schemas import (
    ERROR,
    EXECUTION_RESULTS,
    FAILURE,
    NON_NULLABLE_RULE_FIELDS,
    SUCCESS,
    ExecuteByIdRequest,
    ExecuteRequest,
    MemberAdd,
    MemberUpdate,
    RuleCreate,
    RuleLogEntry,
    RuleSetCreate,
    RuleSetUpdate,
    RuleUpdate,
    RuleValidationError,
    check_actions,
    check_condition,
    check_window,
    parse_body,
)
from engine.rules.workflows import RuleWebhookWorkflow

log = logging.getLogger("covo.rules")

MAX_PAGE_SIZE: Final = 100
LOCK_HEADER: Final = "x-om-ext-optimistic-lock-expected-updated-at"
# Domain events that never trigger rules (reference §3.5).
EVENT_PREFIXES_SKIPPED: Final = ("query_index.", "search.", "business_rules.", "cache.", "queue.", "workflows.")


def _org_is(column: Any, organization_id: uuid.UUID | None) -> ColumnElement[bool]:
    return column.is_(None) if organization_id is None else column == organization_id  # type: ignore[no-any-return]


def page_params(page: int, page_size: int) -> PageParams:
    return PageParams(page=page, page_size=page_size, max_page_size=MAX_PAGE_SIZE)


def _page(items: list[Any], total: int, params: PageParams) -> dict[str, Any]:
    return page_body(items, total, params, with_page=False, min_pages=1)


def _uuid(value: str | None, message: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise BadRequest(message)


def _actor(principal: Principal) -> Actor:
    return Actor(id=str(principal.id), role=",".join(principal.role_names) or None, email=principal.email)


# ---------------------------------------------------------------- optimistic locking


def _ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def check_lock(current: datetime, expected: str | None) -> None:
    """Reference §1: with the header, a stale `updatedAt` answers 409 `record_modified`
    (compared at millisecond precision, as JavaScript clients round)."""
    if not expected:
        return
    try:
        parsed = datetime.fromisoformat(expected.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid {LOCK_HEADER} header (expected an ISO timestamp)")
    if _ms(parsed) != _ms(current):
        raise Conflict(
            "record_modified",
            code="optimistic_lock_conflict",
            extra={
                "code": "optimistic_lock_conflict",
                "currentUpdatedAt": iso_or_none(current),
                "expectedUpdatedAt": expected,
            },
        )


# ---------------------------------------------------------------- rules


def rule_item(row: BusinessRuleRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "ruleId": row.rule_id,
        "ruleName": row.rule_name,
        "description": row.description,
        "ruleType": row.rule_type,
        "ruleCategory": row.rule_category,
        "entityType": row.entity_type,
        "eventType": row.event_type,
        "enabled": row.enabled,
        "priority": row.priority,
        "version": row.version,
        "effectiveFrom": iso_or_none(row.effective_from),
        "effectiveTo": iso_or_none(row.effective_to),
        "tenantId": str(row.tenant_id),
        "organizationId": str(row.organization_id) if row.organization_id else None,
        "createdAt": iso_or_none(row.created_at),
        "updatedAt": iso_or_none(row.updated_at),
    }


def rule_body(row: BusinessRuleRow) -> dict[str, Any]:
    """The full rule. `conditionExpression` is returned exactly as given; `conditionDialect` says
    which language it is in and `conditionLogic` is the JsonLogic the engine evaluates."""
    return {
        **rule_item(row),
        "conditionExpression": row.condition_expression,
        "conditionDialect": row.condition_dialect,
        "conditionLogic": row.condition_logic,
        "successActions": row.success_actions,
        "failureActions": row.failure_actions,
        "createdBy": row.created_by,
        "updatedBy": row.updated_by,
    }


def _rule_scope(principal: Principal) -> list[ColumnElement[bool]]:
    return [
        BusinessRuleRow.tenant_id == principal.tenant_id,
        _org_is(BusinessRuleRow.organization_id, principal.organization_id),
        BusinessRuleRow.deleted_at.is_(None),
    ]


async def _load_rule(
    session: AsyncSession, principal: Principal, rule_uuid: uuid.UUID, *, lock: bool = False
) -> BusinessRuleRow:
    query = select(BusinessRuleRow).where(BusinessRuleRow.id == rule_uuid, *_rule_scope(principal))
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound("Rule not found")
    return row


async def get_rule(session: AsyncSession, principal: Principal, rule_id: str) -> BusinessRuleRow:
    return await _load_rule(session, principal, _uuid(rule_id, "Invalid rule id"))


RULE_SORT: Final = {
    "ruleId": BusinessRuleRow.rule_id,
    "ruleName": BusinessRuleRow.rule_name,
    "ruleType": BusinessRuleRow.rule_type,
    "entityType": BusinessRuleRow.entity_type,
    "priority": BusinessRuleRow.priority,
    "createdAt": BusinessRuleRow.created_at,
    "updatedAt": BusinessRuleRow.updated_at,
}


async def list_rules(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    rule_uuid: str | None = None,
    search: str | None = None,
    rule_id: str | None = None,
    rule_type: str | None = None,
    entity_type: str | None = None,
    event_type: str | None = None,
    enabled: bool | None = None,
    rule_category: str | None = None,
    sort_field: str | None = None,
    sort_dir: str | None = None,
) -> dict[str, Any]:
    query = select(BusinessRuleRow).where(*_rule_scope(principal))
    if rule_uuid:
        query = query.where(BusinessRuleRow.id == _uuid(rule_uuid, "Invalid query parameters: id must be a UUID"))
    if search:
        query = query.where(BusinessRuleRow.rule_name.ilike(f"%{search}%"))
    if rule_id:
        query = query.where(BusinessRuleRow.rule_id.ilike(f"%{rule_id}%"))
    if rule_type:
        query = query.where(BusinessRuleRow.rule_type == rule_type)
    if entity_type:
        query = query.where(BusinessRuleRow.entity_type == entity_type)
    if event_type:
        query = query.where(BusinessRuleRow.event_type == event_type)
    if enabled is not None:
        query = query.where(BusinessRuleRow.enabled.is_(enabled))
    if rule_category:
        query = query.where(BusinessRuleRow.rule_category == rule_category)
    order = sort_order(RULE_SORT, sort_field, sort_dir, default="priority", default_dir="desc")
    total, page = await page_of(session, query, params, order, BusinessRuleRow.rule_id.asc())
    return _page([rule_item(r) for r in page.scalars()], total, params)


def _duplicate_rule(rule_id: str) -> str:
    return f"A rule with ruleId '{rule_id}' already exists"


async def create_rule(session: AsyncSession, principal: Principal, body: Any) -> BusinessRuleRow:
    fields = parse_body(RuleCreate, body)
    dialect, logic = check_condition(fields.condition_expression, fields.condition_dialect)
    check_window(fields.effective_from, fields.effective_to)
    row = BusinessRuleRow(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        organization_id=principal.organization_id,
        rule_id=fields.rule_id,
        rule_name=fields.rule_name,
        description=fields.description,
        rule_type=fields.rule_type,
        rule_category=fields.rule_category,
        entity_type=fields.entity_type,
        event_type=fields.event_type,
        condition_expression=fields.condition_expression,
        condition_dialect=dialect,
        condition_logic=logic,
        success_actions=check_actions(fields.success_actions, "successActions"),
        failure_actions=check_actions(fields.failure_actions, "failureActions"),
        enabled=fields.enabled,
        priority=fields.priority,
        version=fields.version,
        effective_from=fields.effective_from,
        effective_to=fields.effective_to,
        created_by=str(principal.id),
        updated_by=str(principal.id),
    )
    session.add(row)
    await flush_unique(session, _duplicate_rule(fields.rule_id))
    return row


async def update_rule(
    session: AsyncSession, principal: Principal, body: Any, expected_updated_at: str | None
) -> BusinessRuleRow:
    if not isinstance(body, dict) or not body.get("id"):
        raise BadRequest("Rule id is required")
    fields = parse_body(RuleUpdate, body)
    row = await _load_rule(session, principal, fields.id, lock=True)
    check_lock(row.updated_at, expected_updated_at)
    given = fields.model_fields_set - {"id"}
    nulls = [f for f in given if f in NON_NULLABLE_RULE_FIELDS and getattr(fields, f) is None]
    if nulls:
        aliases = {name: info.alias or name for name, info in RuleUpdate.model_fields.items()}
        raise RuleValidationError([(aliases[f], "must not be null") for f in sorted(nulls)])
    if "condition_expression" in given or "condition_dialect" in given:
        expression = fields.condition_expression if "condition_expression" in given else row.condition_expression
        dialect = fields.condition_dialect if "condition_dialect" in given else None
        row.condition_dialect, row.condition_logic = check_condition(expression, dialect)
        row.condition_expression = expression
    if "success_actions" in given:
        row.success_actions = check_actions(fields.success_actions, "successActions")
    if "failure_actions" in given:
        row.failure_actions = check_actions(fields.failure_actions, "failureActions")
    for name in (
        "rule_id", "rule_name", "description", "rule_type", "rule_category", "entity_type", "event_type",
        "enabled", "priority", "version", "effective_from", "effective_to",
    ):  # fmt: skip
        if name in given:
            setattr(row, name, getattr(fields, name))
    check_window(row.effective_from, row.effective_to)
    row.updated_by = str(principal.id)
    row.updated_at = utcnow()
    await flush_unique(session, _duplicate_rule(row.rule_id))
    return row


async def delete_rule(
    session: AsyncSession, principal: Principal, rule_id: str | None, expected_updated_at: str | None
) -> None:
    if not rule_id:
        raise BadRequest("Rule id is required")
    row = await _load_rule(session, principal, _uuid(rule_id, "Invalid rule id"), lock=True)
    check_lock(row.updated_at, expected_updated_at)
    row.deleted_at = row.updated_at = utcnow()
    row.updated_by = str(principal.id)
    await session.flush()


# ---------------------------------------------------------------- rule sets


def set_body(row: RuleSetRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "setId": row.set_id,
        "setName": row.set_name,
        "description": row.description,
        "enabled": row.enabled,
        "tenantId": str(row.tenant_id),
        "organizationId": str(row.organization_id) if row.organization_id else None,
        "createdBy": row.created_by,
        "updatedBy": row.updated_by,
        "createdAt": iso_or_none(row.created_at),
        "updatedAt": iso_or_none(row.updated_at),
    }


def _set_scope(principal: Principal) -> list[ColumnElement[bool]]:
    return [
        RuleSetRow.tenant_id == principal.tenant_id,
        _org_is(RuleSetRow.organization_id, principal.organization_id),
        RuleSetRow.deleted_at.is_(None),
    ]


async def _load_set(
    session: AsyncSession, principal: Principal, set_uuid: uuid.UUID, *, lock: bool = False
) -> RuleSetRow:
    query = select(RuleSetRow).where(RuleSetRow.id == set_uuid, *_set_scope(principal))
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound("Rule set not found")
    return row


SET_SORT: Final = {
    "setId": RuleSetRow.set_id,
    "setName": RuleSetRow.set_name,
    "enabled": RuleSetRow.enabled,
    "createdAt": RuleSetRow.created_at,
    "updatedAt": RuleSetRow.updated_at,
}


async def list_sets(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    set_uuid: str | None = None,
    search: str | None = None,
    set_id: str | None = None,
    enabled: bool | None = None,
    sort_field: str | None = None,
    sort_dir: str | None = None,
) -> dict[str, Any]:
    query = select(RuleSetRow).where(*_set_scope(principal))
    if set_uuid:
        query = query.where(RuleSetRow.id == _uuid(set_uuid, "Invalid query parameters: id must be a UUID"))
    if search:
        query = query.where(RuleSetRow.set_name.ilike(f"%{search}%"))
    if set_id:
        query = query.where(RuleSetRow.set_id.ilike(f"%{set_id}%"))
    if enabled is not None:
        query = query.where(RuleSetRow.enabled.is_(enabled))
    order = sort_order(SET_SORT, sort_field, sort_dir, default="setId")
    total, page = await page_of(session, query, params, order, RuleSetRow.id)
    return _page([set_body(r) for r in page.scalars()], total, params)


def _duplicate_set(set_id: str) -> str:
    return f"A rule set with setId '{set_id}' already exists"


async def create_set(session: AsyncSession, principal: Principal, body: Any) -> RuleSetRow:
    fields = parse_body(RuleSetCreate, body)
    row = RuleSetRow(
        id=uuid.uuid4(),
        tenant_id=principal.tenant_id,
        organization_id=principal.organization_id,
        set_id=fields.set_id,
        set_name=fields.set_name,
        description=fields.description,
        enabled=fields.enabled,
        created_by=str(principal.id),
        updated_by=str(principal.id),
    )
    session.add(row)
    await flush_unique(session, _duplicate_set(fields.set_id))
    return row


async def update_set(
    session: AsyncSession, principal: Principal, body: Any, expected_updated_at: str | None
) -> RuleSetRow:
    if not isinstance(body, dict) or not body.get("id"):
        raise BadRequest("Rule set id is required")
    fields = parse_body(RuleSetUpdate, body)
    row = await _load_set(session, principal, fields.id, lock=True)
    check_lock(row.updated_at, expected_updated_at)
    given = fields.model_fields_set - {"id"}
    for name in ("set_id", "set_name", "enabled"):
        if name in given and getattr(fields, name) is None:
            raise RuleValidationError([(RuleSetUpdate.model_fields[name].alias or name, "must not be null")])
    for name in ("set_id", "set_name", "description", "enabled"):
        if name in given:
            setattr(row, name, getattr(fields, name))
    row.updated_by = str(principal.id)
    row.updated_at = utcnow()
    await flush_unique(session, _duplicate_set(row.set_id))
    return row


async def delete_set(
    session: AsyncSession, principal: Principal, set_id: str | None, expected_updated_at: str | None
) -> None:
    if not set_id:
        raise BadRequest("Rule set id is required")
    row = await _load_set(session, principal, _uuid(set_id, "Invalid rule set id"), lock=True)
    check_lock(row.updated_at, expected_updated_at)
    row.deleted_at = row.updated_at = utcnow()
    row.updated_by = str(principal.id)
    await session.flush()


async def get_set(session: AsyncSession, principal: Principal, set_id: str) -> dict[str, Any]:
    row = await _load_set(session, principal, _uuid(set_id, "Invalid rule set id"))
    members = (
        await session.execute(
            select(RuleSetMemberRow, BusinessRuleRow)
            .join(BusinessRuleRow, BusinessRuleRow.id == RuleSetMemberRow.rule_id)
            .where(RuleSetMemberRow.rule_set_id == row.id, BusinessRuleRow.deleted_at.is_(None))
            .order_by(RuleSetMemberRow.sequence, RuleSetMemberRow.id)
        )
    ).all()
    return {
        **set_body(row),
        "members": [
            {
                "id": str(member.id),
                "ruleId": str(rule.id),
                "ruleKey": rule.rule_id,
                "ruleName": rule.rule_name,
                "ruleType": rule.rule_type,
                "sequence": member.sequence,
                "enabled": member.enabled,
            }
            for member, rule in members
        ],
    }


async def add_member(session: AsyncSession, principal: Principal, set_id: str, body: Any) -> RuleSetMemberRow:
    rule_set = await _load_set(session, principal, _uuid(set_id, "Invalid rule set id"))
    fields = parse_body(MemberAdd, body)
    rule = await _load_rule(session, principal, fields.rule_id)
    member = RuleSetMemberRow(
        id=uuid.uuid4(),
        rule_set_id=rule_set.id,
        rule_id=rule.id,
        sequence=fields.sequence,
        enabled=fields.enabled,
        tenant_id=principal.tenant_id,
        organization_id=principal.organization_id,
    )
    session.add(member)
    await flush_unique(session, "Rule is already a member of this set")
    return member


async def _load_member(
    session: AsyncSession, principal: Principal, set_id: str, member_id: uuid.UUID
) -> RuleSetMemberRow:
    rule_set = await _load_set(session, principal, _uuid(set_id, "Invalid rule set id"))
    member = await session.scalar(
        select(RuleSetMemberRow).where(RuleSetMemberRow.id == member_id, RuleSetMemberRow.rule_set_id == rule_set.id)
    )
    if member is None:
        raise NotFound("Member not found")
    return member


async def update_member(session: AsyncSession, principal: Principal, set_id: str, body: Any) -> None:
    fields = parse_body(MemberUpdate, body)
    member = await _load_member(session, principal, set_id, fields.member_id)
    if fields.sequence is not None:
        member.sequence = fields.sequence
    if fields.enabled is not None:
        member.enabled = fields.enabled
    await session.flush()


async def remove_member(session: AsyncSession, principal: Principal, set_id: str, member_id: str | None) -> None:
    if not member_id:
        raise BadRequest("memberId is required")
    member = await _load_member(session, principal, set_id, _uuid(member_id, "Invalid member id"))
    await session.delete(member)
    await session.flush()


# ---------------------------------------------------------------- execution

_VERSION_COLUMNS = (BusinessRuleRow.id, BusinessRuleRow.updated_at)
_RULE_COLUMNS = (
    BusinessRuleRow.id, BusinessRuleRow.updated_at, BusinessRuleRow.rule_id, BusinessRuleRow.rule_name,
    BusinessRuleRow.rule_type, BusinessRuleRow.entity_type, BusinessRuleRow.event_type, BusinessRuleRow.enabled,
    BusinessRuleRow.effective_from, BusinessRuleRow.effective_to, BusinessRuleRow.condition_logic,
    BusinessRuleRow.success_actions, BusinessRuleRow.failure_actions,
)  # fmt: skip


def _effective_now(at: datetime) -> list[ColumnElement[bool]]:
    return [
        or_(BusinessRuleRow.effective_from.is_(None), BusinessRuleRow.effective_from <= at),
        or_(BusinessRuleRow.effective_to.is_(None), BusinessRuleRow.effective_to >= at),
    ]


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
        for row in (await session.execute(select(*_RULE_COLUMNS).where(BusinessRuleRow.id.in_(missing)))).all():
            found[row.id] = CACHE.get(row)
    return [found[rule_uuid] for rule_uuid, _ in versions if rule_uuid in found]


@functools.cache
def _discovery(with_organization: bool, with_event: bool) -> Select[*tuple[Any, ...]]:
    """The discovery statement, built once per shape (building it costs more than running it);
    values come as bind parameters: tenant, organization, entity, event, at."""
    at: BindParameter[datetime] = bindparam("at")
    return (
        select(*_VERSION_COLUMNS)
        .where(
            *scope_conditions(with_organization, with_event),
            or_(BusinessRuleRow.effective_from.is_(None), BusinessRuleRow.effective_from <= at),
            or_(BusinessRuleRow.effective_to.is_(None), BusinessRuleRow.effective_to >= at),
        )
        .order_by(*DISCOVERY_ORDER)
        .limit(MAX_RULES + 1)
    )


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
    values: dict[str, Any] = {"tenant": tenant_id, "entity": entity_type, "at": at}
    if organization_id is not None:
        values["organization"] = organization_id
    if event_type:
        values["event"] = event_type
    rows = (await session.execute(_discovery(organization_id is not None, bool(event_type)), values)).all()
    return await _prepared(session, list(rows))


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
    session: AsyncSession, principal: Principal, body: Any, discovery_cache: TtlCache | None = None
) -> tuple[dict[str, Any], Effects]:
    """POST /business_rules/execute."""
    request = parse_body(ExecuteRequest, body)
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
    session: AsyncSession, principal: Principal, rule_id: str, body: Any
) -> tuple[dict[str, Any], Effects]:
    """POST /business_rules/execute/{ruleId} (the rule's UUID). 200 even when the rule cannot run
    (disabled, outside its window); 404 only when it does not exist here."""
    rule_uuid = _uuid(rule_id, "Invalid rule ID")
    request = parse_body(ExecuteByIdRequest, body if body is not None else {})
    row = (
        await session.execute(select(*_RULE_COLUMNS).where(BusinessRuleRow.id == rule_uuid, *_rule_scope(principal)))
    ).first()
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
    session: AsyncSession, principal: Principal, set_id: str, body: Any
) -> tuple[dict[str, Any], Effects]:
    """POST /business_rules/sets/{id}/execute: the set's enabled members whose rules are enabled
    and effective, in member `sequence` order (then priority, ruleId)."""
    rule_set = await _load_set(session, principal, _uuid(set_id, "Invalid rule set id"))
    request = parse_body(ExecuteByIdRequest, body if body is not None else {})
    effects = Effects()
    extra = {"setId": rule_set.set_id}
    if not rule_set.enabled:
        return {
            **_too_many(extra),
            "errors": ["Rule set is disabled"],
        }, effects
    at = now()
    query = (
        select(*_VERSION_COLUMNS)
        .join(RuleSetMemberRow, RuleSetMemberRow.rule_id == BusinessRuleRow.id)
        .where(
            RuleSetMemberRow.rule_set_id == rule_set.id,
            RuleSetMemberRow.enabled.is_(True),
            *_rule_scope(principal),
            BusinessRuleRow.enabled.is_(True),
            *_effective_now(at),
        )
        .order_by(RuleSetMemberRow.sequence, BusinessRuleRow.priority.desc(), BusinessRuleRow.rule_id)
        .limit(MAX_RULES + 1)
    )
    rules = await _prepared(session, list((await session.execute(query)).all()))
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


# ---------------------------------------------------------------- logs


def _log_item(row: RuleExecutionLogRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "entityId": row.entity_id,
        "entityType": row.entity_type,
        "executionResult": row.execution_result,
        "inputContext": row.input_context,
        "outputContext": row.output_context,
        "errorMessage": row.error_message,
        "executionTimeMs": row.execution_time_ms,
        "executedAt": iso_or_none(row.executed_at),
        "tenantId": str(row.tenant_id),
        "organizationId": str(row.organization_id) if row.organization_id else None,
        "executedBy": row.executed_by,
    }


def _log_scope(principal: Principal) -> list[ColumnElement[bool]]:
    clauses = [RuleExecutionLogRow.tenant_id == principal.tenant_id]
    if principal.organization_id is not None:
        clauses.append(RuleExecutionLogRow.organization_id == principal.organization_id)
    return clauses


LOG_SORT: Final = {
    "id": RuleExecutionLogRow.id,
    "ruleId": RuleExecutionLogRow.rule_id,
    "entityType": RuleExecutionLogRow.entity_type,
    "executionResult": RuleExecutionLogRow.execution_result,
    "executionTimeMs": RuleExecutionLogRow.execution_time_ms,
    "executedAt": RuleExecutionLogRow.executed_at,
}


def _log_id(value: str | int | None, message: str) -> int:
    try:
        parsed = int(str(value))
    except (TypeError, ValueError):
        raise BadRequest(message)
    if parsed < 1:
        raise BadRequest(message)
    return parsed


async def list_logs(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    log_id: str | None = None,
    rule_id: str | None = None,
    entity_id: str | None = None,
    entity_type: str | None = None,
    execution_result: str | None = None,
    executed_by: str | None = None,
    executed_from: datetime | None = None,
    executed_to: datetime | None = None,
    sort_field: str | None = None,
    sort_dir: str | None = None,
) -> dict[str, Any]:
    """`ruleId` is the rule's UUID; `entityId` any string (the reference insists on a UUID,
    although logged entity ids are often `unknown` or transition ids)."""
    query = (
        select(RuleExecutionLogRow, BusinessRuleRow.rule_name, BusinessRuleRow.rule_type)
        .join(BusinessRuleRow, BusinessRuleRow.id == RuleExecutionLogRow.rule_id)
        .where(*_log_scope(principal))
    )
    if log_id:
        query = query.where(
            RuleExecutionLogRow.id == _log_id(log_id, "Invalid query parameters: id must be an integer")
        )
    if rule_id:
        query = query.where(
            RuleExecutionLogRow.rule_id == _uuid(rule_id, "Invalid query parameters: ruleId must be a UUID")
        )
    if entity_id:
        query = query.where(RuleExecutionLogRow.entity_id == entity_id)
    if entity_type:
        query = query.where(RuleExecutionLogRow.entity_type == entity_type)
    if execution_result:
        if execution_result not in EXECUTION_RESULTS:
            raise BadRequest(f"Invalid query parameters: executionResult must be one of {', '.join(EXECUTION_RESULTS)}")
        query = query.where(RuleExecutionLogRow.execution_result == execution_result)
    if executed_by:
        query = query.where(RuleExecutionLogRow.executed_by == executed_by)
    if executed_from:
        query = query.where(RuleExecutionLogRow.executed_at >= _aware(executed_from))
    if executed_to:
        query = query.where(RuleExecutionLogRow.executed_at <= _aware(executed_to))
    order = sort_order(LOG_SORT, sort_field, sort_dir, default="executedAt", default_dir="desc")
    total, page = await page_of(session, query, params, order, RuleExecutionLogRow.id.desc())
    rows = page.all()
    items = [
        {
            "id": str(entry.id),
            "ruleId": str(entry.rule_id),
            "ruleName": rule_name,
            "ruleType": rule_type,
            **{k: v for k, v in _log_item(entry).items() if k != "id"},
        }
        for entry, rule_name, rule_type in rows
    ]
    return _page(items, total, params)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def get_log(session: AsyncSession, principal: Principal, log_id: str) -> dict[str, Any]:
    key = _log_id(log_id, "Invalid log id")
    row = (
        await session.execute(
            select(RuleExecutionLogRow, BusinessRuleRow)
            .join(BusinessRuleRow, BusinessRuleRow.id == RuleExecutionLogRow.rule_id)
            .where(RuleExecutionLogRow.id == key, *_log_scope(principal))
        )
    ).first()
    if row is None:
        raise NotFound("Log entry not found")
    entry, rule = row
    return {
        "id": str(entry.id),
        "rule": {
            "id": str(rule.id),
            "ruleId": rule.rule_id,
            "ruleName": rule.rule_name,
            "ruleType": rule.rule_type,
            "entityType": rule.entity_type,
        },
        **{k: v for k, v in _log_item(entry).items() if k != "id"},
    }


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
    rows = (
        await session.scalars(
            select(BusinessRuleRow).where(
                BusinessRuleRow.tenant_id == tenant_id,
                BusinessRuleRow.rule_id.in_(sorted(rule_ids)),
                BusinessRuleRow.deleted_at.is_(None),
            )
        )
    ).all()
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
    if idempotency_key is not None:
        first = await session.scalar(
            pg_insert(SideEffectRow)
            .values(idempotency_key=idempotency_key, kind="business_rules.event", result={"rules": len(rules)})
            .on_conflict_do_nothing(index_elements=[SideEffectRow.idempotency_key])
            .returning(SideEffectRow.idempotency_key)
        )
        if first is None:
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
    wanted = {(entry.tenant_id, entry.rule_id) for entry in logs}
    rows = (
        await session.execute(
            select(BusinessRuleRow.id, BusinessRuleRow.tenant_id, BusinessRuleRow.rule_id).where(
                or_(*(and_(BusinessRuleRow.tenant_id == t, BusinessRuleRow.rule_id == r) for t, r in wanted)),
                BusinessRuleRow.deleted_at.is_(None),
            )
        )
    ).all()
    uuids = {(row.tenant_id, row.rule_id): row.id for row in rows}
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
