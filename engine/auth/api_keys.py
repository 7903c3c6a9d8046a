"""API keys: a secret shown once at creation, stored as a SHA-256 hash, acting with its roles."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import repository
from engine.auth.accounts import guard_assignable, organization_in, resolve_roles
from engine.auth.schemas import Principal
from engine.auth.scope import org_allowed, tenant_for
from engine.auth.security import new_secret, sha256
from engine.auth.service import API_KEY_PREFIX
from engine.clock import now
from engine.db.models import ApiKey
from engine.errors import BadRequest, NotFound
from engine.pagination import PageParams, page_of


@dataclass(frozen=True)
class KeyEntry:
    """A key as the list shows it: its organization's name and its roles' (id, name), in the
    key's order (the name is None for a role deleted since)."""

    key: ApiKey
    organization_name: str | None
    roles: list[tuple[uuid.UUID, str | None]]


def _ids(role_ids: Sequence[Any]) -> list[uuid.UUID]:
    return [uuid.UUID(str(r)) for r in role_ids]


async def role_refs(session: AsyncSession, role_ids: Sequence[Any]) -> list[tuple[uuid.UUID, str | None]]:
    """The (id, name) of each of a key's roles, in the key's order."""
    names = await repository.role_names(session, _ids(role_ids))
    return [(i, names.get(i)) for i in _ids(role_ids)]


async def list_keys(
    session: AsyncSession, principal: Principal, params: PageParams, search: str | None
) -> tuple[list[KeyEntry], int]:
    """A page of the keys the caller sees, newest first; and the total."""
    query = repository.readable_api_keys(principal)
    if search:
        query = query.where(ApiKey.name.ilike(f"%{search}%"))
    total, page = await page_of(session, query, params, ApiKey.created_at.desc())
    rows = page.tuples().all()
    # One query for the names of every role on the page.
    names = await repository.role_names(session, (i for key, _ in rows for i in _ids(key.role_ids)))
    entries = [KeyEntry(key, org, [(i, names.get(i)) for i in _ids(key.role_ids)]) for key, org in rows]
    return entries, total


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
        if not org_allowed(principal, await organization_in(session, tenant, organization_id)):
            raise NotFound("Organization not found")
    elif repository.restricted_to(principal) is not None:
        # A tenant-wide key would reach beyond the organizations the caller may act in.
        raise BadRequest("organizationId is required: your access is limited to some organizations")
    if expires_at is not None and expires_at <= now():
        raise BadRequest("expiresAt must be in the future")
    role_rows = await resolve_roles(session, tenant, roles)
    await guard_assignable(session, principal, role_rows)
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
    role_ids = await repository.user_role_ids_in(session, user_id, tenant_id)
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
    key = await repository.readable_api_key(session, principal, key_id)
    if key is None:
        raise NotFound("API key not found")
    key.deleted_at = now()
    await session.flush()
