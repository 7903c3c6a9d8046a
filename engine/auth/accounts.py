"""Users, roles and their access-control lists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from engine import modules
from engine.auth import lockout, repository
from engine.auth.features import grant_satisfies
from engine.auth.schemas import Principal
from engine.auth.scope import tenant_for
from engine.auth.security import hash_password
from engine.auth.service import (
    Acl,
    check_password_strength,
    effective_acl,
    find_user_by_email,
    revoke_all_sessions,
    roles_acl,
)
from engine.clock import now
from engine.db.models import Organization, Role, RoleAcl, User, UserAcl, UserRole
from engine.db.session import flush_unique
from engine.errors import BadRequest, Conflict, Forbidden, NotFound
from engine.pagination import PageParams, page_of

# ---------------------------------------------------------------- roles


async def get_role(session: AsyncSession, principal: Principal, role_id: uuid.UUID) -> Role:
    role = await repository.readable_role(session, principal, role_id)
    if role is None:
        raise NotFound("Role not found")
    return role


async def list_roles(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    role_id: uuid.UUID | None,
    search: str | None,
    tenant_id: uuid.UUID | None,
) -> tuple[list[tuple[Role, int, str]], int]:
    """A page of the tenant's roles, each with its live members' count and the tenant's name; and
    the total."""
    query = repository.roles_of_tenant(tenant_for(principal, tenant_id))
    if role_id is not None:
        query = query.where(Role.id == role_id)
    if search:
        query = query.where(Role.name.ilike(f"%{search}%"))
    total, page = await page_of(session, query, params, Role.name)
    return list(page.tuples().all()), total


async def create_role(session: AsyncSession, principal: Principal, name: str, tenant_id: uuid.UUID | None) -> Role:
    name = (name or "").strip()
    if not name:
        raise BadRequest("Role name is required")
    tenant = tenant_for(principal, tenant_id)
    role = Role(id=uuid.uuid4(), tenant_id=tenant, name=name)
    session.add(role)
    session.add(RoleAcl(role_id=role.id, features=[], is_super_admin=False, organizations=None))
    await flush_unique(session, "A role with this name already exists")
    return role


async def update_role(session: AsyncSession, principal: Principal, role_id: uuid.UUID, name: str | None) -> None:
    role = await get_role(session, principal, role_id)
    if name is not None:
        if not name.strip():
            raise BadRequest("Role name is required")
        role.name = name.strip()
    await flush_unique(session, "A role with this name already exists")


async def delete_role(session: AsyncSession, principal: Principal, role_id: uuid.UUID) -> None:
    role = await get_role(session, principal, role_id)
    if await repository.count_members(session, role.id):
        raise BadRequest("Role has assigned users")
    await session.delete(role)
    await session.flush()


def holds_grant(principal: Principal, grant: str) -> bool:
    """Whether the caller holds every declared feature the grant (a feature or wildcard) covers."""
    return principal.is_super_admin or all(
        principal.can(f.id) for _, f in modules.all_features() if grant_satisfies(grant, f.id)
    )


def sanitize_features(principal: Principal, requested: list[str]) -> tuple[list[str], bool]:
    """Keeps grants that name a declared feature (or a wildcard covering one) and that the caller
    holds itself, so nobody can hand out more than they have. Returns (kept, changed)."""
    known = [f.id for _, f in modules.all_features()]
    kept: list[str] = []
    for grant in requested:
        if not isinstance(grant, str) or grant in kept:
            continue
        covers_known = any(grant_satisfies(grant, f) for f in known)
        if covers_known and holds_grant(principal, grant):
            kept.append(grant)
    return kept, kept != list(requested)


async def _organizations_in_tenant(
    session: AsyncSession, tenant_id: uuid.UUID, organizations: list[Any] | None
) -> list[str] | None:
    if organizations is None:
        return None
    ids: list[uuid.UUID] = []
    for value in organizations:
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            raise BadRequest(f"Invalid organization id: {value}")
    if ids:
        found = await repository.organization_ids_in(session, tenant_id, ids)
        missing = [str(i) for i in ids if i not in found]
        if missing:
            raise BadRequest(f"Unknown organizations: {', '.join(missing)}")
    return [str(i) for i in ids]


async def get_role_acl(session: AsyncSession, principal: Principal, role_id: uuid.UUID) -> RoleAcl | None:
    """The role's grants (None: it grants nothing)."""
    role = await get_role(session, principal, role_id)
    return await session.get(RoleAcl, role.id)


@dataclass(frozen=True)
class AclChange:
    """What a write of a role's or user's ACL sets: a part left None stays as it is, except
    `organizations`, written whenever `organizations_given` (None there: every organization)."""

    features: list[str] | None = None
    is_super_admin: bool | None = None
    organizations: list[Any] | None = None
    organizations_given: bool = False


async def put_role_acl(session: AsyncSession, principal: Principal, role_id: uuid.UUID, change: AclChange) -> bool:
    role = await get_role(session, principal, role_id)
    if change.is_super_admin and not principal.is_super_admin:
        raise Forbidden("Only a super admin can grant super admin")
    async with lockout.guarded(session, principal, role.tenant_id):
        acl = await session.get(RoleAcl, role.id)
        if acl is not None and acl.is_super_admin and not principal.is_super_admin:
            raise Forbidden("Only a super admin can change a super admin role")
        if acl is None:
            acl = RoleAcl(role_id=role.id, features=[], is_super_admin=False, organizations=None)
            session.add(acl)
        return await _apply_acl(session, principal, acl, role.tenant_id, change)


async def _apply_acl(
    session: AsyncSession,
    principal: Principal,
    acl: RoleAcl | UserAcl,
    tenant_id: uuid.UUID,
    change: AclChange,
) -> bool:
    """Writes the given parts of a role's or user's ACL; returns whether features were dropped."""
    sanitized = False
    if change.features is not None:
        acl.features, sanitized = sanitize_features(principal, change.features)
    if change.is_super_admin is not None:
        acl.is_super_admin = change.is_super_admin
    if change.organizations_given:
        acl.organizations = await _organizations_in_tenant(session, tenant_id, change.organizations)
    await session.flush()
    return sanitized


# ---------------------------------------------------------------- users


@dataclass(frozen=True)
class UserEntry:
    """A user as the list shows it."""

    user: User
    organization_name: str | None
    tenant_name: str
    roles: list[str]


async def get_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    user = await repository.readable_user(session, principal, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def _guard_super_admin_target(session: AsyncSession, principal: Principal, user: User) -> None:
    """Only a super admin may change, remove or re-scope a super admin (else a tenant admin could
    reset a super admin's password and sign in as one)."""
    if principal.is_super_admin:
        return
    role_ids = [r.id for r in await repository.user_roles(session, user.id)]
    if (await effective_acl(session, user.id, role_ids)).is_super_admin or (
        await roles_acl(session, role_ids)
    ).is_super_admin:
        raise Forbidden("Only a super admin can change a super admin")


async def organization_in(session: AsyncSession, tenant_id: uuid.UUID | None, org_id: uuid.UUID) -> Organization:
    """A live organization of the tenant (any tenant when None), else 404."""
    org = await repository.organization_in(session, tenant_id, org_id)
    if org is None:
        raise NotFound("Organization not found")
    return org


async def resolve_roles(session: AsyncSession, tenant_id: uuid.UUID, roles: list[str]) -> list[Role]:
    """Roles may be named by id or by name; all must belong to the tenant."""
    found: list[Role] = []
    for value in roles:
        role = await repository.role_in(session, tenant_id, value)
        if role is None:
            raise BadRequest(f"Unknown role: {value}")
        if role not in found:
            found.append(role)
    return found


async def guard_assignable(session: AsyncSession, principal: Principal, roles: list[Role]) -> None:
    """Assigning a role (to a user or an API key) hands out its grants: a caller may only assign
    roles whose features it holds itself, and only a super admin may assign a super admin role."""
    if principal.is_super_admin or not roles:
        return
    acls = await repository.role_acls(session, (r.id for r in roles))
    if any(a.is_super_admin for a in acls):
        raise Forbidden("Only a super admin can assign a super admin role")
    if not all(holds_grant(principal, grant) for a in acls for grant in a.features):
        raise Forbidden("You cannot assign a role granting features you do not hold")


async def list_users(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    user_id: uuid.UUID | None,
    search: str | None,
    organization_id: uuid.UUID | None,
    role_ids: list[uuid.UUID],
) -> tuple[list[UserEntry], int]:
    """A page of the caller's tenant's users, by e-mail; and the total."""
    query = repository.users_of_tenant(principal.tenant_id)
    if user_id is not None:
        query = query.where(User.id == user_id)
    if search:
        query = query.where(repository.matching(search))
    if organization_id is not None:
        query = query.where(User.organization_id == organization_id)
    if role_ids:
        query = query.where(repository.holding_any_role(role_ids))
    total, page = await page_of(session, query, params, User.email)
    rows = page.tuples().all()
    names = await repository.role_names_of_users(session, [user.id for user, _, _ in rows])
    return [
        UserEntry(user, org_name, tenant_name, names.get(user.id, [])) for user, org_name, tenant_name in rows
    ], total


async def create_user(
    session: AsyncSession,
    principal: Principal,
    *,
    email: str,
    password: str | None,
    organization_id: uuid.UUID | None,
    roles: list[str],
    name: str | None,
) -> User:
    email = (email or "").strip()
    if "@" not in email:
        raise BadRequest("A valid email is required")
    if organization_id is not None:
        org = await organization_in(session, None if principal.is_super_admin else principal.tenant_id, organization_id)
        tenant_id = org.tenant_id
    else:
        tenant_id = principal.tenant_id
    if password is not None:
        check_password_strength(password)
    if await find_user_by_email(session, email) is not None:
        raise Conflict("A user with this email already exists")
    role_rows = await resolve_roles(session, tenant_id, roles)
    await guard_assignable(session, principal, role_rows)
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        organization_id=organization_id,
        email=email,
        name=name,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    await session.flush()
    session.add_all(UserRole(user_id=user.id, role_id=r.id) for r in role_rows)
    await session.flush()
    return user


async def update_user(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    *,
    email: str | None,
    password: str | None,
    organization_id: uuid.UUID | None,
    organization_given: bool,
    roles: list[str] | None,
    name: str | None,
    is_active: bool | None,
) -> None:
    user = await get_user(session, principal, user_id)
    await _guard_super_admin_target(session, principal, user)
    async with lockout.guarded(session, principal, user.tenant_id):
        if email is not None and email.strip().lower() != user.email.lower():
            if "@" not in email:
                raise BadRequest("A valid email is required")
            if await find_user_by_email(session, email) is not None:
                raise Conflict("A user with this email already exists")
            user.email = email.strip()
        if password is not None:
            check_password_strength(password)
            user.password_hash = hash_password(password)
        if organization_given:
            if organization_id is not None:
                await organization_in(session, user.tenant_id, organization_id)
            user.organization_id = organization_id
        if name is not None:
            user.name = name
        if is_active is not None:
            if not is_active and user.id == principal.user_id:
                raise Conflict("You cannot deactivate yourself")
            user.is_active = is_active
        if roles is not None:
            role_rows = await resolve_roles(session, user.tenant_id, roles)
            await guard_assignable(session, principal, role_rows)
            for link in await repository.role_links(session, user.id):
                await session.delete(link)
            await session.flush()
            session.add_all(UserRole(user_id=user.id, role_id=r.id) for r in role_rows)
        await session.flush()


async def delete_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> None:
    user = await get_user(session, principal, user_id)
    if user.id == principal.user_id:
        raise Conflict("You cannot delete yourself")
    await _guard_super_admin_target(session, principal, user)
    async with lockout.guarded(session, principal, user.tenant_id):
        user.deleted_at = now()
        user.is_active = False
        await revoke_all_sessions(session, user.id)


async def get_user_acl(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> tuple[bool, Acl]:
    """Whether the user has an ACL of its own, and what the user is granted (that ACL, else what
    its roles grant)."""
    user = await get_user(session, principal, user_id)
    has_custom = await session.get(UserAcl, user.id) is not None
    roles = await repository.user_roles(session, user.id)
    return has_custom, await effective_acl(session, user.id, [r.id for r in roles])


async def put_user_acl(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    change: AclChange,
    *,
    clear: bool,
) -> bool:
    """Sets the user's own ACL (it replaces the roles' grants); `clear` removes it again."""
    user = await get_user(session, principal, user_id)
    await _guard_super_admin_target(session, principal, user)
    async with lockout.guarded(session, principal, user.tenant_id):
        custom = await session.get(UserAcl, user.id)
        if clear:
            if custom is not None:
                await session.delete(custom)
                await session.flush()
            return False
        if change.is_super_admin and not principal.is_super_admin:
            raise Forbidden("Only a super admin can grant super admin")
        if custom is None:
            custom = UserAcl(user_id=user.id, features=[], is_super_admin=False, organizations=None)
            session.add(custom)
        return await _apply_acl(session, principal, custom, user.tenant_id, change)
