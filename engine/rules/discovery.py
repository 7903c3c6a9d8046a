"""Rule discovery served from a per-process cache (engine/invalidation.py): which rules of a
tenant match an entity and event type changes only when a rule is written, so each API process
keeps the candidates (ids, versions, effective windows) and filters the windows per request. Any
write to `business_rules` drops the cache at once (in this process by the commit hook, in the
others by NOTIFY), and an entry lives at most AUTH_CACHE_TTL_SECONDS in any case."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db.models import BusinessRuleRow
from engine.invalidation import TtlCache
from engine.rules.execution import MAX_RULES

# More candidates than this (counting rules outside their window) are not cached: the caller
# then runs the plain discovery query.
SCAN_LIMIT = 4 * (MAX_RULES + 1)


def scope_conditions(with_organization: bool, with_event: bool) -> list[ColumnElement[bool]]:
    """The live rules of a tenant (and organization) for an entity (and event) type; values come
    as bind parameters: tenant, organization, entity, event."""
    return [
        BusinessRuleRow.tenant_id == bindparam("tenant"),
        BusinessRuleRow.organization_id == bindparam("organization")
        if with_organization
        else BusinessRuleRow.organization_id.is_(None),
        BusinessRuleRow.entity_type == bindparam("entity"),
        BusinessRuleRow.enabled.is_(True),
        BusinessRuleRow.deleted_at.is_(None),
        *([BusinessRuleRow.event_type == bindparam("event")] if with_event else []),
    ]


DISCOVERY_ORDER = (BusinessRuleRow.priority.desc(), BusinessRuleRow.rule_id.asc())


@functools.cache
def _candidates(with_organization: bool, with_event: bool) -> Select[*tuple[Any, ...]]:
    return (
        select(BusinessRuleRow.id, BusinessRuleRow.updated_at, BusinessRuleRow.effective_from,
               BusinessRuleRow.effective_to)
        .where(*scope_conditions(with_organization, with_event))
        .order_by(*DISCOVERY_ORDER)
        .limit(SCAN_LIMIT)
    )  # fmt: skip


async def cached_versions(
    session: AsyncSession,
    cache: TtlCache,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    entity_type: str,
    event_type: str | None,
    at: datetime,
) -> list[tuple[uuid.UUID, datetime]] | None:
    """(id, updatedAt) of the rules discovery would return, in its order; None when the
    candidates are too many to cache."""

    async def load() -> tuple[Any, ...] | None:
        values: dict[str, Any] = {"tenant": tenant_id, "entity": entity_type}
        if organization_id is not None:
            values["organization"] = organization_id
        if event_type:
            values["event"] = event_type
        statement = _candidates(organization_id is not None, bool(event_type))
        found = tuple(tuple(row) for row in (await session.execute(statement, values)).all())
        return None if len(found) >= SCAN_LIMIT else found  # too many to cache: not cached

    rows: tuple[Any, ...] | None = await cache.through(
        (tenant_id, organization_id, entity_type, event_type or None), load
    )
    if rows is None:
        return None
    live = [
        (rule_uuid, updated_at)
        for rule_uuid, updated_at, starts, ends in rows
        if (starts is None or starts <= at) and (ends is None or ends >= at)
    ]
    return live[: MAX_RULES + 1]
