"""Tenant-scoped statements: a user's notifications, recipients by id, role or feature, and the
stream tickets."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, delete, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth.features import has_feature
from engine.auth.service import effective_acl
from engine.db.models import (
    AuthSession,
    NotificationRow,
    NotificationSettingsRow,
    Role,
    StreamTicketRow,
    Tenant,
    User,
    UserRole,
)


def own(tenant_id: uuid.UUID, user_id: uuid.UUID) -> Select[Any]:
    return select(NotificationRow).where(
        NotificationRow.tenant_id == tenant_id, NotificationRow.recipient_user_id == user_id
    )


def listing(
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    statuses: list[str],
    kind: str | None,
    severity: str | None,
    source_entity_type: str | None,
    source_entity_id: str | None,
    since: datetime | None,
) -> Select[Any]:
    query = own(tenant_id, user_id)
    if statuses:
        query = query.where(NotificationRow.status.in_(statuses))
    if kind:
        query = query.where(NotificationRow.type == kind)
    if severity:
        query = query.where(NotificationRow.severity == severity)
    if source_entity_type:
        query = query.where(NotificationRow.source_entity_type == source_entity_type)
    if source_entity_id:
        query = query.where(NotificationRow.source_entity_id == source_entity_id)
    if since:
        query = query.where(NotificationRow.created_at >= since)
    return query


async def unread_count(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
    query = select(func.count()).where(
        NotificationRow.tenant_id == tenant_id,
        NotificationRow.recipient_user_id == user_id,
        NotificationRow.status == "unread",
    )
    return int(await session.scalar(query) or 0)


async def users(session: AsyncSession, tenant_id: uuid.UUID, ids: Iterable[uuid.UUID]) -> list[User]:
    wanted = list(set(ids))
    if not wanted:
        return []
    query = select(User).where(User.tenant_id == tenant_id, User.id.in_(wanted), User.deleted_at.is_(None))
    return list((await session.scalars(query)).all())


async def role_members(
    session: AsyncSession, tenant_id: uuid.UUID, names: Iterable[str] = (), ids: Iterable[uuid.UUID] = ()
) -> list[uuid.UUID]:
    names, ids = list(names), list(ids)
    if not names and not ids:
        return []
    query = (
        select(UserRole.user_id)
        .join(Role, Role.id == UserRole.role_id)
        .join(User, User.id == UserRole.user_id)
        .where(Role.tenant_id == tenant_id, User.deleted_at.is_(None))
        .where(Role.name.in_(names) | Role.id.in_(ids))
        .distinct()
    )
    return list((await session.scalars(query)).all())


async def role_exists(session: AsyncSession, tenant_id: uuid.UUID, name: str | None, role_id: uuid.UUID | None) -> bool:
    """Whether the tenant has the role named by `roleName` or `roleId` (another tenant's is unknown)."""
    query = select(Role.id).where(Role.tenant_id == tenant_id)
    query = query.where(Role.id == role_id) if role_id is not None else query.where(Role.name == name)
    return (await session.scalar(query.limit(1))) is not None


async def feature_holders(session: AsyncSession, tenant_id: uuid.UUID, feature: str) -> list[uuid.UUID]:
    """Users of the tenant whose effective grants (own ACL, else their roles') include `feature`."""
    rows = (
        await session.execute(
            select(User.id, func.array_remove(func.array_agg(UserRole.role_id), None))
            .outerjoin(UserRole, UserRole.user_id == User.id)
            .where(User.tenant_id == tenant_id, User.deleted_at.is_(None))
            .group_by(User.id)
        )
    ).all()
    holders = []
    for user_id, role_ids in rows:
        acl = await effective_acl(session, user_id, list(role_ids or []))
        if acl.is_super_admin or has_feature(acl.features, feature):
            holders.append(user_id)
    return holders


async def settings_of(
    session: AsyncSession, tenant_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    wanted = list(set(user_ids))
    if not wanted:
        return {}
    query = select(NotificationSettingsRow).where(
        NotificationSettingsRow.tenant_id == tenant_id, NotificationSettingsRow.user_id.in_(wanted)
    )
    return {row.user_id: row.settings for row in (await session.scalars(query)).all()}


async def resolve_recipients(
    session: AsyncSession, tenant_id: uuid.UUID, names: Iterable[str]
) -> dict[str, list[uuid.UUID]]:
    """The users each name means in the tenant: a user id, an e-mail address, or a role name
    (its members). Names that match nobody are left out."""
    resolved: dict[str, list[uuid.UUID]] = {}
    for name in dict.fromkeys(names):
        try:
            key = uuid.UUID(name)
        except ValueError:
            key = None
        if key is not None:
            found = [u.id for u in await users(session, tenant_id, [key])]
        elif "@" in name:
            query = select(User.id).where(
                User.tenant_id == tenant_id, func.lower(User.email) == name.lower(), User.deleted_at.is_(None)
            )
            found = list((await session.scalars(query)).all())
        else:
            found = await role_members(session, tenant_id, names=[name])
        if found:
            resolved[name] = found
    return resolved


# ---------------------------------------------------------------- stream tickets
# The database clock sets and checks every expiry, so API processes whose clocks differ agree.


async def add_stream_ticket(
    session: AsyncSession,
    ticket_hash: str,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    lifetime: timedelta,
) -> datetime:
    """Stores a ticket (and drops the expired ones); returns when it expires."""
    T = StreamTicketRow
    await session.execute(delete(T).where(T.expires_at <= func.now()))
    values = dict(ticket_hash=ticket_hash, tenant_id=tenant_id, user_id=user_id, session_id=session_id)
    expires_at: datetime | None = await session.scalar(
        insert(T).values(**values, expires_at=func.now() + lifetime).returning(T.expires_at)
    )
    assert expires_at is not None
    return expires_at


async def take_stream_ticket(
    session: AsyncSession, ticket_hash: str
) -> Row[uuid.UUID, uuid.UUID, uuid.UUID | None] | None:
    """Deletes an unexpired ticket and returns its (tenant_id, user_id, session_id): one statement,
    so of two requests racing with one ticket only one gets it (the other waits for the row lock,
    then finds it gone)."""
    T = StreamTicketRow
    taken = delete(T).where(T.ticket_hash == ticket_hash, T.expires_at > func.now())
    return (await session.execute(taken.returning(T.tenant_id, T.user_id, T.session_id))).one_or_none()


async def signed_in_user(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, session_id: uuid.UUID | None
) -> User | None:
    """The user, still active in the still active tenant, with the sign-in session not revoked."""
    query = (
        select(User)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.id == user_id, User.tenant_id == tenant_id, User.is_active.is_(True), User.deleted_at.is_(None))
        .where(Tenant.is_active.is_(True), Tenant.deleted_at.is_(None))
    )
    if session_id is not None:
        live = (AuthSession.id == session_id) & (AuthSession.user_id == user_id) & AuthSession.revoked_at.is_(None)
        query = query.where(exists().where(live))
    return await session.scalar(query)
