"""Business rules: rules, rule sets and their members (CRUD, tenant + organization scoped),
execution-log reads, and, re-exported from `engine.rules.runs`, the public functions that run
rules (by request, by rule, by set, on domain events) and that the workflow engine and the event
bus use (`snapshots_for`, `run_for_event`, `write_logs`). Statements live in
`engine.rules.repository`; answers are built by the API's response models.

Scope: every read and write is limited to the caller's tenant and *exactly* its organization
(reference §1 "Organization (business_rules)"); another tenant's or organization's records answer
404. Logs are filtered by organization only when the caller has one. Flushes, never commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth.schemas import Principal
from engine.clock import iso_or_none
from engine.db.base import utcnow
from engine.db.models import BusinessRuleRow, RuleExecutionLogRow, RuleSetMemberRow, RuleSetRow
from engine.db.session import flush_unique
from engine.errors import BadRequest, Conflict, NotFound
from engine.pagination import PageParams, page_of, sort_order
from engine.rules import repository
from engine.rules.runs import (
    EVENT_PREFIXES_SKIPPED,
    discover,
    dispatch_effects,
    event_target,
    execute,
    execute_by_id,
    execute_for_event,
    execute_set,
    run_for_event,
    snapshots_for,
    write_logs,
)
from engine.rules.schemas import (
    EXECUTION_RESULTS,
    NON_NULLABLE_RULE_FIELDS,
    MemberAdd,
    MemberUpdate,
    RuleCreate,
    RuleSetCreate,
    RuleSetUpdate,
    RuleUpdate,
    RuleValidationError,
    check_actions,
    check_condition,
    check_window,
)

__all__ = [
    "EVENT_PREFIXES_SKIPPED",
    "discover",
    "dispatch_effects",
    "event_target",
    "execute",
    "execute_by_id",
    "execute_for_event",
    "execute_set",
    "run_for_event",
    "snapshots_for",
    "write_logs",
]

MAX_PAGE_SIZE: Final = 100
LOCK_HEADER: Final = "x-om-ext-optimistic-lock-expected-updated-at"


def page_params(page: int, page_size: int) -> PageParams:
    return PageParams(page=page, page_size=page_size, max_page_size=MAX_PAGE_SIZE)


def parse_id(value: str | None, message: str) -> uuid.UUID:
    """A UUID from a path or query parameter; 400 with `message` when it is not one."""
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise BadRequest(message)


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


async def _load_rule(
    session: AsyncSession, principal: Principal, rule_uuid: uuid.UUID, *, lock: bool = False
) -> BusinessRuleRow:
    row = await repository.get_rule(session, principal, rule_uuid, lock=lock)
    if row is None:
        raise NotFound("Rule not found")
    return row


async def get_rule(session: AsyncSession, principal: Principal, rule_id: str) -> BusinessRuleRow:
    return await _load_rule(session, principal, parse_id(rule_id, "Invalid rule id"))


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
) -> tuple[list[BusinessRuleRow], int]:
    """(the page's rules, total)."""
    query = repository.readable_rules(principal)
    if rule_uuid:
        query = query.where(BusinessRuleRow.id == parse_id(rule_uuid, "Invalid query parameters: id must be a UUID"))
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
    return list(page.scalars()), total


def _duplicate_rule(rule_id: str) -> str:
    return f"A rule with ruleId '{rule_id}' already exists"


async def create_rule(session: AsyncSession, principal: Principal, fields: RuleCreate) -> BusinessRuleRow:
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
    session: AsyncSession, principal: Principal, fields: RuleUpdate, expected_updated_at: str | None
) -> BusinessRuleRow:
    """Partial update: only the fields sent (`model_fields_set`) change."""
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
    row = await _load_rule(session, principal, parse_id(rule_id, "Invalid rule id"), lock=True)
    check_lock(row.updated_at, expected_updated_at)
    row.deleted_at = row.updated_at = utcnow()
    row.updated_by = str(principal.id)
    await session.flush()


# ---------------------------------------------------------------- rule sets


async def _load_set(
    session: AsyncSession, principal: Principal, set_uuid: uuid.UUID, *, lock: bool = False
) -> RuleSetRow:
    row = await repository.get_set(session, principal, set_uuid, lock=lock)
    if row is None:
        raise NotFound("Rule set not found")
    return row


async def get_set(session: AsyncSession, principal: Principal, set_id: str) -> RuleSetRow:
    return await _load_set(session, principal, parse_id(set_id, "Invalid rule set id"))


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
) -> tuple[list[RuleSetRow], int]:
    """(the page's rule sets, total)."""
    query = repository.readable_sets(principal)
    if set_uuid:
        query = query.where(RuleSetRow.id == parse_id(set_uuid, "Invalid query parameters: id must be a UUID"))
    if search:
        query = query.where(RuleSetRow.set_name.ilike(f"%{search}%"))
    if set_id:
        query = query.where(RuleSetRow.set_id.ilike(f"%{set_id}%"))
    if enabled is not None:
        query = query.where(RuleSetRow.enabled.is_(enabled))
    order = sort_order(SET_SORT, sort_field, sort_dir, default="setId")
    total, page = await page_of(session, query, params, order, RuleSetRow.id)
    return list(page.scalars()), total


def _duplicate_set(set_id: str) -> str:
    return f"A rule set with setId '{set_id}' already exists"


async def create_set(session: AsyncSession, principal: Principal, fields: RuleSetCreate) -> RuleSetRow:
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
    session: AsyncSession, principal: Principal, fields: RuleSetUpdate, expected_updated_at: str | None
) -> RuleSetRow:
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
    row = await _load_set(session, principal, parse_id(set_id, "Invalid rule set id"), lock=True)
    check_lock(row.updated_at, expected_updated_at)
    row.deleted_at = row.updated_at = utcnow()
    row.updated_by = str(principal.id)
    await session.flush()


async def set_members(session: AsyncSession, rule_set: RuleSetRow) -> list[tuple[RuleSetMemberRow, BusinessRuleRow]]:
    """The set's members with their (live) rules, ordered by sequence."""
    return await repository.members_of(session, rule_set)


# ---------------------------------------------------------------- members


async def add_member(
    session: AsyncSession, principal: Principal, rule_set: RuleSetRow, fields: MemberAdd
) -> RuleSetMemberRow:
    """Adds a rule of the caller's to a set the caller loaded (`get_set`)."""
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
    member = await repository.get_member(session, await get_set(session, principal, set_id), member_id)
    if member is None:
        raise NotFound("Member not found")
    return member


async def update_member(session: AsyncSession, principal: Principal, set_id: str, fields: MemberUpdate) -> None:
    member = await _load_member(session, principal, set_id, fields.member_id)
    if fields.sequence is not None:
        member.sequence = fields.sequence
    if fields.enabled is not None:
        member.enabled = fields.enabled
    await session.flush()


async def remove_member(session: AsyncSession, principal: Principal, set_id: str, member_id: str | None) -> None:
    if not member_id:
        raise BadRequest("memberId is required")
    member = await _load_member(session, principal, set_id, parse_id(member_id, "Invalid member id"))
    await session.delete(member)
    await session.flush()


# ---------------------------------------------------------------- logs


def _log_id(value: str | int | None, message: str) -> int:
    try:
        parsed = int(str(value))
    except (TypeError, ValueError):
        raise BadRequest(message)
    if parsed < 1:
        raise BadRequest(message)
    return parsed


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


LOG_SORT: Final = {
    "id": RuleExecutionLogRow.id,
    "ruleId": RuleExecutionLogRow.rule_id,
    "entityType": RuleExecutionLogRow.entity_type,
    "executionResult": RuleExecutionLogRow.execution_result,
    "executionTimeMs": RuleExecutionLogRow.execution_time_ms,
    "executedAt": RuleExecutionLogRow.executed_at,
}


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
) -> tuple[list[tuple[RuleExecutionLogRow, BusinessRuleRow]], int]:
    """(the page's log entries with their rules, total). `ruleId` is the rule's UUID; `entityId`
    any string (the reference insists on a UUID, although logged entity ids are often `unknown` or
    transition ids)."""
    query = repository.readable_logs(principal)
    if log_id:
        query = query.where(
            RuleExecutionLogRow.id == _log_id(log_id, "Invalid query parameters: id must be an integer")
        )
    if rule_id:
        query = query.where(
            RuleExecutionLogRow.rule_id == parse_id(rule_id, "Invalid query parameters: ruleId must be a UUID")
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
    return [(entry, rule) for entry, rule in page.all()], total


async def get_log(
    session: AsyncSession, principal: Principal, log_id: str
) -> tuple[RuleExecutionLogRow, BusinessRuleRow]:
    """A log entry with its rule."""
    found = await repository.get_log(session, principal, _log_id(log_id, "Invalid log id"))
    if found is None:
        raise NotFound("Log entry not found")
    return found
