"""Tenant-scoped statements of the business-rules domain (Polar's `get_readable_statement`
habit): rules, rule sets and logs are read through `readable_rules` / `readable_sets` /
`readable_logs`, which limit them to the caller's tenant and *exactly* its organization (logs: its
organization only when it has one), so no query can forget the scope. Flush, never commit."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import BindParameter, ColumnElement, Row, Select, and_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth.schemas import Principal
from engine.db.models import BusinessRuleRow, RuleExecutionLogRow, RuleSetMemberRow, RuleSetRow, SideEffectRow
from engine.rules.discovery import DISCOVERY_ORDER, scope_conditions
from engine.rules.execution import MAX_RULES

# What running a rule needs (engine.rules.execution.PreparedRule), and its version key.
VERSION_COLUMNS: Final = (BusinessRuleRow.id, BusinessRuleRow.updated_at)
RULE_COLUMNS: Final = (
    BusinessRuleRow.id, BusinessRuleRow.updated_at, BusinessRuleRow.rule_id, BusinessRuleRow.rule_name,
    BusinessRuleRow.rule_type, BusinessRuleRow.entity_type, BusinessRuleRow.event_type, BusinessRuleRow.enabled,
    BusinessRuleRow.effective_from, BusinessRuleRow.effective_to, BusinessRuleRow.condition_logic,
    BusinessRuleRow.success_actions, BusinessRuleRow.failure_actions,
)  # fmt: skip


def _org_is(column: Any, organization_id: uuid.UUID | None) -> ColumnElement[bool]:
    return column.is_(None) if organization_id is None else column == organization_id  # type: ignore[no-any-return]


def rule_scope(principal: Principal) -> list[ColumnElement[bool]]:
    """The caller's live rules: its tenant, exactly its organization, not deleted."""
    return [
        BusinessRuleRow.tenant_id == principal.tenant_id,
        _org_is(BusinessRuleRow.organization_id, principal.organization_id),
        BusinessRuleRow.deleted_at.is_(None),
    ]


def readable_rules(principal: Principal) -> Select[BusinessRuleRow]:
    return select(BusinessRuleRow).where(*rule_scope(principal))


def readable_sets(principal: Principal) -> Select[RuleSetRow]:
    return select(RuleSetRow).where(
        RuleSetRow.tenant_id == principal.tenant_id,
        _org_is(RuleSetRow.organization_id, principal.organization_id),
        RuleSetRow.deleted_at.is_(None),
    )


def readable_logs(principal: Principal) -> Select[RuleExecutionLogRow, BusinessRuleRow]:
    """Log entries with their rule; filtered by organization only when the caller has one."""
    query = select(RuleExecutionLogRow, BusinessRuleRow).join(
        BusinessRuleRow, BusinessRuleRow.id == RuleExecutionLogRow.rule_id
    )
    query = query.where(RuleExecutionLogRow.tenant_id == principal.tenant_id)
    if principal.organization_id is not None:
        query = query.where(RuleExecutionLogRow.organization_id == principal.organization_id)
    return query


# ---------------------------------------------------------------- rules


async def get_rule(
    session: AsyncSession, principal: Principal, rule_uuid: uuid.UUID, *, lock: bool = False
) -> BusinessRuleRow | None:
    query = readable_rules(principal).where(BusinessRuleRow.id == rule_uuid)
    row: BusinessRuleRow | None = await session.scalar(query.with_for_update() if lock else query)
    return row


async def rule_to_run(session: AsyncSession, principal: Principal, rule_uuid: uuid.UUID) -> Row[Any] | None:
    """The caller's rule with the columns running it needs (RULE_COLUMNS)."""
    return (
        await session.execute(select(*RULE_COLUMNS).where(BusinessRuleRow.id == rule_uuid, *rule_scope(principal)))
    ).first()


async def rules_to_run(session: AsyncSession, rule_uuids: list[uuid.UUID]) -> Sequence[Row[Any]]:
    """RULE_COLUMNS of these rules (ids found by a scoped statement first)."""
    return (await session.execute(select(*RULE_COLUMNS).where(BusinessRuleRow.id.in_(rule_uuids)))).all()


def _effective_at(at: datetime | BindParameter[datetime]) -> list[ColumnElement[bool]]:
    return [
        or_(BusinessRuleRow.effective_from.is_(None), BusinessRuleRow.effective_from <= at),
        or_(BusinessRuleRow.effective_to.is_(None), BusinessRuleRow.effective_to >= at),
    ]


@functools.cache
def _discovery(with_organization: bool, with_event: bool) -> Select[*tuple[Any, ...]]:
    """The discovery statement, built once per shape (building it costs more than running it);
    values come as bind parameters: tenant, organization, entity, event, at."""
    return (
        select(*VERSION_COLUMNS)
        .where(*scope_conditions(with_organization, with_event), *_effective_at(bindparam("at")))
        .order_by(*DISCOVERY_ORDER)
        .limit(MAX_RULES + 1)
    )


async def discovered_versions(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    entity_type: str,
    event_type: str | None,
    at: datetime,
) -> list[Any]:
    """(id, updatedAt) of the enabled live rules of the tenant and organization for the entity
    (and event) type, effective at `at`, in discovery order; at most MAX_RULES + 1."""
    values: dict[str, Any] = {"tenant": tenant_id, "entity": entity_type, "at": at}
    if organization_id is not None:
        values["organization"] = organization_id
    if event_type:
        values["event"] = event_type
    return list((await session.execute(_discovery(organization_id is not None, bool(event_type)), values)).all())


async def set_versions(session: AsyncSession, principal: Principal, rule_set_id: uuid.UUID, at: datetime) -> list[Any]:
    """(id, updatedAt) of the set's enabled members whose rules are enabled and effective at `at`,
    in member `sequence` order (then priority desc, ruleId); at most MAX_RULES + 1."""
    query = (
        select(*VERSION_COLUMNS)
        .join(RuleSetMemberRow, RuleSetMemberRow.rule_id == BusinessRuleRow.id)
        .where(
            RuleSetMemberRow.rule_set_id == rule_set_id,
            RuleSetMemberRow.enabled.is_(True),
            *rule_scope(principal),
            BusinessRuleRow.enabled.is_(True),
            *_effective_at(at),
        )
        .order_by(RuleSetMemberRow.sequence, BusinessRuleRow.priority.desc(), BusinessRuleRow.rule_id)
        .limit(MAX_RULES + 1)
    )
    return list((await session.execute(query)).all())


async def live_rules_by_key(session: AsyncSession, tenant_id: uuid.UUID, rule_ids: set[str]) -> list[BusinessRuleRow]:
    """The tenant's live rules with these string `ruleId`s (any organization)."""
    return list(
        (
            await session.scalars(
                select(BusinessRuleRow).where(
                    BusinessRuleRow.tenant_id == tenant_id,
                    BusinessRuleRow.rule_id.in_(sorted(rule_ids)),
                    BusinessRuleRow.deleted_at.is_(None),
                )
            )
        ).all()
    )


async def live_rule_uuids(
    session: AsyncSession, keys: set[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
    """(tenant, ruleId) -> the live rule's UUID, for the pairs that exist."""
    rows = (
        await session.execute(
            select(BusinessRuleRow.id, BusinessRuleRow.tenant_id, BusinessRuleRow.rule_id).where(
                or_(*(and_(BusinessRuleRow.tenant_id == t, BusinessRuleRow.rule_id == r) for t, r in keys)),
                BusinessRuleRow.deleted_at.is_(None),
            )
        )
    ).all()
    return {(row.tenant_id, row.rule_id): row.id for row in rows}


async def claim_side_effect(session: AsyncSession, idempotency_key: str, kind: str, result: dict[str, Any]) -> bool:
    """Records a side effect under its key in the current transaction; False when the key was
    already used (the work was done before)."""
    first = await session.scalar(
        pg_insert(SideEffectRow)
        .values(idempotency_key=idempotency_key, kind=kind, result=result)
        .on_conflict_do_nothing(index_elements=[SideEffectRow.idempotency_key])
        .returning(SideEffectRow.idempotency_key)
    )
    return first is not None


# ---------------------------------------------------------------- rule sets and members


async def get_set(
    session: AsyncSession, principal: Principal, set_uuid: uuid.UUID, *, lock: bool = False
) -> RuleSetRow | None:
    query = readable_sets(principal).where(RuleSetRow.id == set_uuid)
    row: RuleSetRow | None = await session.scalar(query.with_for_update() if lock else query)
    return row


async def members_of(session: AsyncSession, rule_set: RuleSetRow) -> list[tuple[RuleSetMemberRow, BusinessRuleRow]]:
    """The set's members with their live rules, by sequence."""
    rows = await session.execute(
        select(RuleSetMemberRow, BusinessRuleRow)
        .join(BusinessRuleRow, BusinessRuleRow.id == RuleSetMemberRow.rule_id)
        .where(RuleSetMemberRow.rule_set_id == rule_set.id, BusinessRuleRow.deleted_at.is_(None))
        .order_by(RuleSetMemberRow.sequence, RuleSetMemberRow.id)
    )
    return [(member, rule) for member, rule in rows.all()]


async def get_member(session: AsyncSession, rule_set: RuleSetRow, member_id: uuid.UUID) -> RuleSetMemberRow | None:
    return await session.scalar(
        select(RuleSetMemberRow).where(RuleSetMemberRow.id == member_id, RuleSetMemberRow.rule_set_id == rule_set.id)
    )


# ---------------------------------------------------------------- logs


async def get_log(
    session: AsyncSession, principal: Principal, log_id: int
) -> tuple[RuleExecutionLogRow, BusinessRuleRow] | None:
    row = (await session.execute(readable_logs(principal).where(RuleExecutionLogRow.id == log_id))).first()
    return None if row is None else (row[0], row[1])
