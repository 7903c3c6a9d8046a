"""Users, roles and their access-control lists."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine import modules
from engine.auth.features import grant_satisfies
from engine.auth.schemas import Principal
from engine.auth.scope import tenant_for, visible_tenant
from engine.auth.security import hash_password
from engine.auth.service import (
    check_password_strength,
    effective_acl,
    find_user_by_email,
    roles_acl,
    user_roles,
)
from engine.clock import now
from engine.db.models import Organization, Role, RoleAcl, Tenant, User, UserAcl, UserRole
from engine.db.session import flush_unique
from engine.errors import BadRequest, Conflict, Forbidden, NotFound
from engine.pagination import PageParams, page_body, page_of

# ---------------------------------------------------------------- roles


async def get_role(session: AsyncSession, principal: Principal, role_id: uuid.UUID) -> Role:
    role = await session.get(Role, role_id)
    if role is None or not visible_tenant(principal, role.tenant_id):
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
) -> dict[str, Any]:
    tenant = tenant_for(principal, tenant_id)
    users_count = (
        select(func.count())
        .select_from(UserRole)
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role_id == Role.id, User.deleted_at.is_(None))
        .scalar_subquery()
    )
    query = (
        select(Role, users_count.label("users_count"), Tenant.name)
        .join(Tenant, Tenant.id == Role.tenant_id)
        .where(Role.tenant_id == tenant)
    )
    if role_id is not None:
        query = query.where(Role.id == role_id)
    if search:
        query = query.where(Role.name.ilike(f"%{search}%"))
    total, page = await page_of(session, query, params, Role.name)
    rows = page.all()
    items = [
        {
            "id": str(role.id),
            "name": role.name,
            "usersCount": int(n),
            "tenantId": str(role.tenant_id),
            "tenantName": tenant_name,
        }
        for role, n, tenant_name in rows
    ]
    return page_body(items, total, params, with_page=False)


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
    members = await session.scalar(
        select(func.count())
        .select_from(UserRole)
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role_id == role.id, User.deleted_at.is_(None))
    )
    if members:
        raise BadRequest("Role has assigned users")
    await session.delete(role)
    await session.flush()


def acl_body(acl: RoleAcl | UserAcl | None) -> dict[str, Any]:
    return {
        "isSuperAdmin": bool(acl and acl.is_super_admin),
        "features": list(acl.features) if acl else [],
        "organizations": (list(acl.organizations) if acl and acl.organizations is not None else None),
    }


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
        found = set(
            (
                await session.scalars(
                    select(Organization.id).where(Organization.id.in_(ids), Organization.tenant_id == tenant_id)
                )
            ).all()
        )
        missing = [str(i) for i in ids if i not in found]
        if missing:
            raise BadRequest(f"Unknown organizations: {', '.join(missing)}")
    return [str(i) for i in ids]


async def get_role_acl(session: AsyncSession, principal: Principal, role_id: uuid.UUID) -> dict[str, Any]:
    role = await get_role(session, principal, role_id)
    return acl_body(await session.get(RoleAcl, role.id))


async def put_role_acl(
    session: AsyncSession,
    principal: Principal,
    role_id: uuid.UUID,
    *,
    features: list[str] | None,
    is_super_admin: bool | None,
    organizations: list[Any] | None,
    organizations_given: bool,
) -> bool:
    role = await get_role(session, principal, role_id)
    if is_super_admin and not principal.is_super_admin:
        raise Forbidden("Only a super admin can grant super admin")
    acl = await session.get(RoleAcl, role.id)
    if acl is not None and acl.is_super_admin and not principal.is_super_admin:
        raise Forbidden("Only a super admin can change a super admin role")
    if acl is None:
        acl = RoleAcl(role_id=role.id, features=[], is_super_admin=False, organizations=None)
        session.add(acl)
    sanitized = False
    if features is not None:
        acl.features, sanitized = sanitize_features(principal, features)
    if is_super_admin is not None:
        acl.is_super_admin = is_super_admin
    if organizations_given:
        acl.organizations = await _organizations_in_tenant(session, role.tenant_id, organizations)
    await session.flush()
    return sanitized


# ---------------------------------------------------------------- users


async def get_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None or not visible_tenant(principal, user.tenant_id):
        raise NotFound("User not found")
    return user


async def _guard_super_admin_target(session: AsyncSession, principal: Principal, user: User) -> None:
    """Only a super admin may change, remove or re-scope a super admin (else a tenant admin could
    reset a super admin's password and sign in as one)."""
    if principal.is_super_admin:
        return
    role_ids = [r.id for r in await user_roles(session, user.id)]
    if (await effective_acl(session, user.id, role_ids)).is_super_admin or (
        await roles_acl(session, role_ids)
    ).is_super_admin:
        raise Forbidden("Only a super admin can change a super admin")


async def _organization_in(session: AsyncSession, tenant_id: uuid.UUID | None, org_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, org_id)
    if org is None or org.deleted_at is not None or (tenant_id is not None and org.tenant_id != tenant_id):
        raise NotFound("Organization not found")
    return org


async def _resolve_roles(session: AsyncSession, tenant_id: uuid.UUID, roles: list[str]) -> list[Role]:
    """Roles may be named by id or by name; all must belong to the tenant."""
    found: list[Role] = []
    for value in roles:
        try:
            condition = Role.id == uuid.UUID(str(value))
        except ValueError:
            condition = Role.name == str(value)
        role = await session.scalar(select(Role).where(condition, Role.tenant_id == tenant_id))
        if role is None:
            raise BadRequest(f"Unknown role: {value}")
        if role not in found:
            found.append(role)
    return found


async def _guard_super_admin_roles(session: AsyncSession, principal: Principal, roles: list[Role]) -> None:
    """Assigning a role (to a user or an API key) hands out its grants: a caller may only assign
    roles whose features it holds itself, and only a super admin may assign a super admin role."""
    if principal.is_super_admin or not roles:
        return
    acls = (await session.scalars(select(RoleAcl).where(RoleAcl.role_id.in_([r.id for r in roles])))).all()
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
) -> dict[str, Any]:
    query = (
        select(User, Organization.name, Tenant.name)
        .join(Tenant, Tenant.id == User.tenant_id)
        .outerjoin(Organization, Organization.id == User.organization_id)
        .where(User.tenant_id == principal.tenant_id, User.deleted_at.is_(None))
    )
    if user_id is not None:
        query = query.where(User.id == user_id)
    if search:
        query = query.where(or_(User.email.ilike(f"%{search}%"), User.name.ilike(f"%{search}%")))
    if organization_id is not None:
        query = query.where(User.organization_id == organization_id)
    if role_ids:
        query = query.where(User.id.in_(select(UserRole.user_id).where(UserRole.role_id.in_(role_ids))))
    total, page = await page_of(session, query, params, User.email)
    rows = page.all()
    role_names: dict[uuid.UUID, list[str]] = {}
    if rows:
        pairs = await session.execute(
            select(UserRole.user_id, Role.name)
            .join(Role, Role.id == UserRole.role_id)
            .where(UserRole.user_id.in_([u.id for u, _, _ in rows]))
            .order_by(Role.name)
        )
        for uid, role_name in pairs:
            role_names.setdefault(uid, []).append(role_name)
    items = [
        {
            "id": str(user.id),
            "email": user.email,
            "name": user.name,
            "isActive": user.is_active,
            "organizationId": str(user.organization_id) if user.organization_id else None,
            "organizationName": org_name,
            "tenantId": str(user.tenant_id),
            "tenantName": tenant_name,
            "roles": role_names.get(user.id, []),
        }
        for user, org_name, tenant_name in rows
    ]
    return page_body(items, total, params, with_page=False)


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
        org = await _organization_in(
            session, None if principal.is_super_admin else principal.tenant_id, organization_id
        )
        tenant_id = org.tenant_id
    else:
        tenant_id = principal.tenant_id
    if password is not None:
        check_password_strength(password)
    if await find_user_by_email(session, email) is not None:
        raise Conflict("A user with this email already exists")
    role_rows = await _resolve_roles(session, tenant_id, roles)
    await _guard_super_admin_roles(session, principal, role_rows)
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
            await _organization_in(session, user.tenant_id, organization_id)
        user.organization_id = organization_id
    if name is not None:
        user.name = name
    if is_active is not None:
        if not is_active and user.id == principal.user_id:
            raise BadRequest("You cannot deactivate yourself")
        user.is_active = is_active
    if roles is not None:
        role_rows = await _resolve_roles(session, user.tenant_id, roles)
        await _guard_super_admin_roles(session, principal, role_rows)
        for link in (await session.scalars(select(UserRole).where(UserRole.user_id == user.id))).all():
            await session.delete(link)
        await session.flush()
        session.add_all(UserRole(user_id=user.id, role_id=r.id) for r in role_rows)
    await session.flush()


async def delete_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> None:
    user = await get_user(session, principal, user_id)
    if user.id == principal.user_id:
        raise BadRequest("You cannot delete yourself")
    await _guard_super_admin_target(session, principal, user)
    user.deleted_at = now()
    user.is_active = False
    from engine.auth.service import revoke_all_sessions

    await revoke_all_sessions(session, user.id)
    await session.flush()


async def get_user_acl(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> dict[str, Any]:
    user = await get_user(session, principal, user_id)
    custom = await session.get(UserAcl, user.id)
    if custom is not None:
        return {"hasCustomAcl": True, **acl_body(custom)}
    roles = await user_roles(session, user.id)
    acl = await effective_acl(session, user.id, [r.id for r in roles])
    return {
        "hasCustomAcl": False,
        "isSuperAdmin": acl.is_super_admin,
        "features": list(acl.features),
        "organizations": list(acl.organizations) if acl.organizations is not None else None,
    }


async def put_user_acl(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    *,
    features: list[str] | None,
    is_super_admin: bool | None,
    organizations: list[Any] | None,
    organizations_given: bool,
    clear: bool,
) -> bool:
    """Sets the user's own ACL (it replaces the roles' grants); `clear` removes it again."""
    user = await get_user(session, principal, user_id)
    await _guard_super_admin_target(session, principal, user)
    custom = await session.get(UserAcl, user.id)
    if clear:
        if custom is not None:
            await session.delete(custom)
            await session.flush()
        return False
    if is_super_admin and not principal.is_super_admin:
        raise Forbidden("Only a super admin can grant super admin")
    if custom is None:
        custom = UserAcl(user_id=user.id, features=[], is_super_admin=False, organizations=None)
        session.add(custom)
    sanitized = False
    if features is not None:
        custom.features, sanitized = sanitize_features(principal, features)
    if is_super_admin is not None:
        custom.is_super_admin = is_super_admin
    if organizations_given:
        custom.organizations = await _organizations_in_tenant(session, user.tenant_id, organizations)
    await session.flush()
    return sanitized
