"""Scoped statements over scheduled jobs and their runs; flush, never commit."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth.schemas import Principal
from engine.db.base import utcnow
from engine.db.models import ScheduledJobRow, ScheduledJobRunRow
from engine.errors import Forbidden
from engine.scheduler.errors import JobNotFound, SystemScopeForbidden

J = ScheduledJobRow
R = ScheduledJobRunRow


def live() -> ColumnElement[bool]:
    return J.deleted_at.is_(None)


def _allowed_orgs(principal: Principal) -> ColumnElement[bool]:
    if principal.organizations is None:
        return J.organization_id.is_not(None)
    orgs = [uuid.UUID(o) for o in principal.organizations]
    return J.organization_id.in_(orgs) if orgs else false()


def visible(principal: Principal) -> ColumnElement[bool]:
    """Reference §4.4: organization jobs of the caller's permitted organizations and tenant jobs,
    both in the caller's tenant; system jobs for super admins only."""
    own = and_(
        J.tenant_id == principal.tenant_id,
        or_(J.scope_type == "tenant", and_(J.scope_type == "organization", _allowed_orgs(principal))),
    )
    return or_(own, J.scope_type == "system") if principal.is_super_admin else own


def jobs(principal: Principal) -> Select[ScheduledJobRow]:
    return select(J).where(live(), visible(principal))


async def visible_job(session: AsyncSession, principal: Principal, job_id: uuid.UUID | None) -> ScheduledJobRow:
    """A job the caller may see; anything else (unknown, deleted, another tenant's) is 404."""
    row = None if job_id is None else await session.scalar(jobs(principal).where(J.id == job_id))
    if row is None:
        raise JobNotFound()
    return row


async def writable_job(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID | None, *, lock: bool = True
) -> ScheduledJobRow:
    """Reference §4.4 for update/delete: another tenant's job is 404; a system job needs a super
    admin and an organization job outside the caller's organizations is 403."""
    query = select(J).where(J.id == job_id, live(), or_(J.tenant_id == principal.tenant_id, J.scope_type == "system"))
    row = None if job_id is None else await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise JobNotFound()
    if row.scope_type == "system" and not principal.is_super_admin:
        raise SystemScopeForbidden()
    orgs = principal.organizations
    if row.scope_type == "organization" and orgs is not None and str(row.organization_id) not in orgs:
        raise Forbidden("Forbidden")
    return row


async def all_live_jobs(session: AsyncSession) -> list[ScheduledJobRow]:
    return list((await session.scalars(select(J).where(live()))).all())


def runs_of(job_id: uuid.UUID) -> Select[ScheduledJobRunRow]:
    return select(R).where(R.job_id == job_id)


async def run_for(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID
) -> tuple[ScheduledJobRunRow, str] | None:
    """A run of a job the caller may see (deleted jobs' runs included), with the job's name."""
    query = select(R, J.name).join(J, J.id == R.job_id).where(R.id == run_id, visible(principal))
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def prune_runs(session: AsyncSession, older_than: timedelta, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - older_than
    result: Any = await session.execute(delete(R).where(R.finished_at < cutoff))
    return int(result.rowcount or 0)


async def tenant_has_feature(
    session: AsyncSession, tenant_id: uuid.UUID, organization_id: uuid.UUID | None, feature: str
) -> bool:
    """Whether any role of the tenant grants `feature` (in the organization, when the role is
    restricted to some): the reference's `requireFeature` check, made at each firing."""
    from engine.auth.features import has_feature
    from engine.db.models import Role, RoleAcl

    rows = await session.execute(
        select(RoleAcl.features, RoleAcl.organizations)
        .join(Role, Role.id == RoleAcl.role_id)
        .where(Role.tenant_id == tenant_id)
    )
    # Every tenant has a seeded super-admin role, so only explicit grants count here.
    for features, organizations in rows:
        if organizations is not None and organization_id is not None and str(organization_id) not in organizations:
            continue
        if has_feature(features or [], feature):
            return True
    return False
