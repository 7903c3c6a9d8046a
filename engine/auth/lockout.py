"""No self-lockout: every change to users, roles or ACLs runs inside `guarded(...)`, which compares
who can still administer before and after the change (flushed, same transaction) and refuses with
409 when the change would
- take from the caller the grants that let them manage users and roles (`MANAGE`),
- leave a tenant that had an active administrator (a user holding `MANAGE`) without one,
- leave a tenant that had an active super admin without one (so the system keeps its super admin:
  the one seeded by `covo admin create` lives in the system tenant).
A refusal raises, so the request's transaction rolls back and nothing changed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import repository
from engine.auth.schemas import Principal
from engine.auth.service import principals_of_users
from engine.errors import Conflict

MANAGE = ("auth.users.edit", "auth.roles.manage", "auth.acl.manage")


def administers(principal: Principal) -> bool:
    return all(principal.can(feature) for feature in MANAGE)


@dataclass(frozen=True)
class Standing:
    caller_administers: bool
    tenant_admins: int
    super_admins: int


async def _standing(session: AsyncSession, caller: Principal, tenant_id: uuid.UUID) -> Standing:
    tenant_users = await repository.active_user_ids(session, tenant_id)
    principals = await principals_of_users(session, tenant_users | {caller.id})
    me = principals.get(caller.id) if caller.kind == "user" else None
    tenant = [principals[u] for u in tenant_users if u in principals]
    return Standing(
        caller_administers=caller.kind != "user" or (me is not None and administers(me)),
        tenant_admins=sum(1 for p in tenant if administers(p)),
        super_admins=sum(1 for p in tenant if p.is_super_admin),
    )


@asynccontextmanager
async def guarded(session: AsyncSession, caller: Principal, tenant_id: uuid.UUID) -> AsyncIterator[None]:
    """Wrap a change to users, roles or ACLs of `tenant_id`."""
    await session.flush()
    before = await _standing(session, caller, tenant_id)
    yield
    await session.flush()
    after = await _standing(session, caller, tenant_id)
    if before.caller_administers and not after.caller_administers:
        raise Conflict("This change would remove your own right to manage users and roles")
    if before.super_admins and not after.super_admins:
        raise Conflict("This change would leave the tenant without an active super admin")
    if before.tenant_admins and not after.tenant_admins:
        raise Conflict("This change would leave the tenant without an active administrator")
