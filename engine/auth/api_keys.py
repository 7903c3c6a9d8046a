"""API keys: a secret shown once at creation, stored as a SHA-256 hash, acting with its roles."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth.accounts import _guard_super_admin_roles, _organization_in, _resolve_roles
from engine.auth.directory import org_allowed
from engine.auth.schemas import Principal
from engine.auth.scope import tenant_for
from engine.auth.security import new_secret, sha256
from engine.auth.service import API_KEY_PREFIX
from engine.clock import iso_or_none, now
from engine.db.models import ApiKey, Organization, Role, UserRole
from engine.errors import BadRequest, NotFound
from engine.pagination import PageParams, page_body, page_of


async def _role_refs(session: AsyncSession, role_ids: list[Any]) -> list[dict[str, Any]]:
    ids = [uuid.UUID(str(r)) for r in role_ids]
    names = (
        dict((await session.execute(select(Role.id, Role.name).where(Role.id.in_(ids)))).tuples().all()) if ids else {}
    )
    return [{"id": str(i), "name": names.get(i)} for i in ids]


async def list_keys(
    session: AsyncSession, principal: Principal, params: PageParams, search: str | None
) -> dict[str, Any]:
    query = (
        select(ApiKey, Organization.name)
        .outerjoin(Organization, Organization.id == ApiKey.organization_id)
        .where(ApiKey.tenant_id == principal.tenant_id, ApiKey.deleted_at.is_(None))
    )
    if search:
        query = query.where(ApiKey.name.ilike(f"%{search}%"))
    allowed = restricted_to(principal)
    if allowed is not None:
        # Only keys of organizations the caller may act in (one of them or a descendant).
        query = query.where(or_(false(), *[Organization.tree_path.contains(org) for org in allowed]))
    total, page = await page_of(session, query, params, ApiKey.created_at.desc())
    rows = page.all()
    items = [
        {
            "id": str(key.id),
            "name": key.name,
            "description": key.description,
            "keyPrefix": key.key_prefix,
            "organizationId": str(key.organization_id) if key.organization_id else None,
            "organizationName": org_name,
            "createdAt": iso_or_none(key.created_at),
            "lastUsedAt": iso_or_none(key.last_used_at),
            "expiresAt": iso_or_none(key.expires_at),
            "roles": await _role_refs(session, key.role_ids),
        }
        for key, org_name in rows
    ]
    return page_body(items, total, params)


async def create_key(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    description: str | None,
    tenant_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    roles: list[str],
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    if not (name or "").strip():
        raise BadRequest("Name is required")
    tenant = tenant_for(principal, tenant_id)
    if organization_id is not None:
        if not org_allowed(principal, await _organization_in(session, tenant, organization_id)):
            raise NotFound("Organization not found")
    elif restricted_to(principal) is not None:
        # A tenant-wide key would reach beyond the organizations the caller may act in.
        raise BadRequest("organizationId is required: your access is limited to some organizations")
    if expires_at is not None and expires_at <= now():
        raise BadRequest("expiresAt must be in the future")
    role_rows = await _resolve_roles(session, tenant, roles)
    await _guard_super_admin_roles(session, principal, role_rows)
    key, secret = mint(
        session,
        tenant_id=tenant,
        organization_id=organization_id,
        name=name.strip(),
        description=description,
        role_ids=[r.id for r in role_rows],
        created_by=principal.user_id,
        expires_at=expires_at,
    )
    await session.flush()
    return key, secret


def mint(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    name: str,
    role_ids: Sequence[uuid.UUID],
    expires_at: datetime | None,
    description: str | None = None,
    created_by: uuid.UUID | None = None,
) -> tuple[ApiKey, str]:
    """The one place an API key is made: a new secret, stored only as its hash and prefix.
    Returns the row (added to the session, not flushed) and the secret, shown once."""
    secret = new_secret(API_KEY_PREFIX)
    key = ApiKey(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        organization_id=organization_id,
        name=name,
        description=description,
        key_prefix=secret[: len(API_KEY_PREFIX) + 6],
        key_hash=sha256(secret),
        role_ids=[str(r) for r in role_ids],
        created_by=created_by,
        expires_at=expires_at,
    )
    session.add(key)
    return key, secret


async def mint_for_user(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    user_id: uuid.UUID,
    name: str,
    ttl: timedelta,
) -> tuple[ApiKey, str] | None:
    """A short-lived key acting with the user's roles in the tenant (a workflow's CALL_API);
    None when the user has no roles there."""
    role_ids = list(
        (
            await session.scalars(
                select(Role.id)
                .join(UserRole, UserRole.role_id == Role.id)
                .where(UserRole.user_id == user_id, Role.tenant_id == tenant_id)
            )
        ).all()
    )
    if not role_ids:
        return None
    return mint(
        session,
        tenant_id=tenant_id,
        organization_id=organization_id,
        name=name,
        role_ids=role_ids,
        expires_at=now() + ttl,
    )


async def revoke(session: AsyncSession, key_id: uuid.UUID) -> None:
    """Deletes a key at once (no scope checks: for keys the engine minted itself)."""
    row = await session.get(ApiKey, key_id)
    if row is not None and row.deleted_at is None:
        row.deleted_at = now()


async def delete_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    key = await session.get(ApiKey, key_id)
    if key is None or key.deleted_at is not None or key.tenant_id != principal.tenant_id:
        raise NotFound("API key not found")
    if restricted_to(principal) is not None:
        org = await session.get(Organization, key.organization_id) if key.organization_id else None
        if org is None or not org_allowed(principal, org):
            raise NotFound("API key not found")
    key.deleted_at = now()
    await session.flush()


def restricted_to(principal: Principal) -> tuple[str, ...] | None:
    """The organizations an organization-restricted caller may act in; None when unrestricted."""
    return None if principal.is_super_admin else principal.organizations


role_refs = _role_refs
