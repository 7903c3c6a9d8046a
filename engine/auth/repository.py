"""Tenant-scoped reads of the auth domain (tenants, organizations, roles, users, ACLs, API keys,
sessions). A `readable_*` statement or lookup already filters by what the caller may see (its
tenant, a super admin every tenant, an organization-restricted caller its organizations), so a
service cannot forget it; the lookups answer None for anything else, and the service says 404.
Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth.schemas import Principal
from engine.auth.scope import org_allowed, visible_tenant
from engine.clock import now
from engine.db.models import (
    ApiKey,
    AuthSession,
    Organization,
    PasswordReset,
    Role,
    RoleAcl,
    SidebarPreference,
    Tenant,
    User,
    UserRole,
)

# ---------------------------------------------------------------- tenants


def readable_tenants(principal: Principal) -> Select[Tenant]:
    """Live tenants the caller sees: every one for a super admin, else only its own."""
    query = select(Tenant).where(Tenant.deleted_at.is_(None))
    if not principal.is_super_admin:
        query = query.where(Tenant.id == principal.tenant_id)
    return query


async def readable_tenant(session: AsyncSession, principal: Principal, tenant_id: uuid.UUID) -> Tenant | None:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None or tenant.deleted_at is not None or not visible_tenant(principal, tenant.id):
        return None
    return tenant


async def live_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant | None:
    """The tenant when it exists, is active and not deleted (anyone may sign in to it)."""
    tenant = await session.get(Tenant, tenant_id)
    return tenant if tenant is not None and tenant.is_active and tenant.deleted_at is None else None


# ---------------------------------------------------------------- organizations


async def readable_organization(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> Organization | None:
    org = await session.get(Organization, org_id)
    if (
        org is None
        or org.deleted_at is not None
        or not visible_tenant(principal, org.tenant_id)
        or not org_allowed(principal, org)
    ):
        return None
    return org


async def organization_in(session: AsyncSession, tenant_id: uuid.UUID | None, org_id: uuid.UUID) -> Organization | None:
    """A live organization of the tenant (of any tenant when `tenant_id` is None)."""
    org = await session.get(Organization, org_id)
    if org is None or org.deleted_at is not None or (tenant_id is not None and org.tenant_id != tenant_id):
        return None
    return org


async def tenant_organizations(
    session: AsyncSession, tenant_id: uuid.UUID, include_inactive: bool = True
) -> list[Organization]:
    """The tenant's live organizations, parents before their children."""
    query = select(Organization).where(Organization.tenant_id == tenant_id, Organization.deleted_at.is_(None))
    if not include_inactive:
        query = query.where(Organization.is_active.is_(True))
    return list((await session.scalars(query.order_by(Organization.tree_path, Organization.name))).all())


async def organization_ids_in(session: AsyncSession, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `ids` are organizations of the tenant."""
    if not ids:
        return set()
    query = select(Organization.id).where(Organization.id.in_(ids), Organization.tenant_id == tenant_id)
    return set((await session.scalars(query)).all())


async def descendants(session: AsyncSession, tenant_id: uuid.UUID, tree_path: str) -> list[Organization]:
    """Every organization below the node at `tree_path` (their paths start with it)."""
    query = select(Organization).where(
        Organization.tenant_id == tenant_id, Organization.tree_path.like(f"{tree_path}/%")
    )
    return list((await session.scalars(query)).all())


async def count_children(session: AsyncSession, org_id: uuid.UUID) -> int:
    query = select(func.count()).where(Organization.parent_id == org_id, Organization.deleted_at.is_(None))
    return int(await session.scalar(query) or 0)


async def detach_users(session: AsyncSession, org_id: uuid.UUID) -> None:
    await session.execute(update(User).where(User.organization_id == org_id).values(organization_id=None))


# ---------------------------------------------------------------- roles


def _members_count(role_id: Any) -> Select[int]:
    """Live users holding the role."""
    return (
        select(func.count())
        .select_from(UserRole)
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role_id == role_id, User.deleted_at.is_(None))
    )


def roles_of_tenant(tenant_id: uuid.UUID) -> Select[Role, int, str]:
    """Each role of the tenant with its live members' count and the tenant's name."""
    users_count = _members_count(Role.id).scalar_subquery()
    return (
        select(Role, users_count.label("users_count"), Tenant.name)
        .join(Tenant, Tenant.id == Role.tenant_id)
        .where(Role.tenant_id == tenant_id)
    )


async def readable_role(session: AsyncSession, principal: Principal, role_id: uuid.UUID) -> Role | None:
    role = await session.get(Role, role_id)
    return role if role is not None and visible_tenant(principal, role.tenant_id) else None


async def count_members(session: AsyncSession, role_id: uuid.UUID) -> int:
    return int(await session.scalar(_members_count(role_id)) or 0)


async def role_in(session: AsyncSession, tenant_id: uuid.UUID, value: str) -> Role | None:
    """The tenant's role named by `value`: its id, else its name."""
    try:
        condition = Role.id == uuid.UUID(str(value))
    except ValueError:
        condition = Role.name == str(value)
    return await session.scalar(select(Role).where(condition, Role.tenant_id == tenant_id))


async def role_named(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> Role | None:
    return await session.scalar(select(Role).where(Role.tenant_id == tenant_id, Role.name == name))


async def role_acls(session: AsyncSession, role_ids: Iterable[uuid.UUID]) -> list[RoleAcl]:
    ids = list(role_ids)
    if not ids:
        return []
    return list((await session.scalars(select(RoleAcl).where(RoleAcl.role_id.in_(ids)))).all())


async def roles_by_id(session: AsyncSession, role_ids: list[uuid.UUID]) -> list[Role]:
    if not role_ids:
        return []
    return list((await session.scalars(select(Role).where(Role.id.in_(role_ids)))).all())


async def role_names(session: AsyncSession, role_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    ids = list(set(role_ids))
    if not ids:
        return {}
    return dict((await session.execute(select(Role.id, Role.name).where(Role.id.in_(ids)))).tuples().all())


async def user_roles(session: AsyncSession, user_id: uuid.UUID) -> list[Role]:
    """The user's roles, by name."""
    query = select(Role).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user_id)
    return list((await session.scalars(query.order_by(Role.name))).all())


async def user_role_ids_in(session: AsyncSession, user_id: uuid.UUID, tenant_id: uuid.UUID) -> list[uuid.UUID]:
    query = (
        select(Role.id)
        .join(UserRole, UserRole.role_id == Role.id)
        .where(UserRole.user_id == user_id, Role.tenant_id == tenant_id)
    )
    return list((await session.scalars(query)).all())


async def tenant_roles(session: AsyncSession, tenant_id: uuid.UUID) -> list[Role]:
    """The tenant's roles, by name."""
    return list((await session.scalars(select(Role).where(Role.tenant_id == tenant_id).order_by(Role.name))).all())


async def role_links(session: AsyncSession, user_id: uuid.UUID) -> list[UserRole]:
    return list((await session.scalars(select(UserRole).where(UserRole.user_id == user_id))).all())


# ---------------------------------------------------------------- users


def users_of_tenant(tenant_id: uuid.UUID) -> Select[User, str, str]:
    """The tenant's live users, each with its organization's and tenant's names."""
    return (
        select(User, Organization.name, Tenant.name)
        .join(Tenant, Tenant.id == User.tenant_id)
        .outerjoin(Organization, Organization.id == User.organization_id)
        .where(User.tenant_id == tenant_id, User.deleted_at.is_(None))
    )


def holding_any_role(role_ids: list[uuid.UUID]) -> Any:
    """A condition: the user holds one of the roles."""
    return User.id.in_(select(UserRole.user_id).where(UserRole.role_id.in_(role_ids)))


def matching(search: str) -> Any:
    """A condition: the user's e-mail or name contains `search` (any case)."""
    return or_(User.email.ilike(f"%{search}%"), User.name.ilike(f"%{search}%"))


async def readable_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User | None:
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None or not visible_tenant(principal, user.tenant_id):
        return None
    return user


async def active_user_ids(session: AsyncSession, tenant_id: uuid.UUID) -> set[uuid.UUID]:
    """The tenant's active, live users."""
    query = select(User.id).where(User.tenant_id == tenant_id, User.is_active.is_(True), User.deleted_at.is_(None))
    return set((await session.scalars(query)).all())


async def role_names_of_users(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """Each user's role names, by name."""
    names: dict[uuid.UUID, list[str]] = {}
    if user_ids:
        pairs = await session.execute(
            select(UserRole.user_id, Role.name)
            .join(Role, Role.id == UserRole.role_id)
            .where(UserRole.user_id.in_(user_ids))
            .order_by(Role.name)
        )
        for user_id, name in pairs:
            names.setdefault(user_id, []).append(name)
    return names


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The live user with this e-mail (any case), in any tenant: e-mails are unique system-wide."""
    query = select(User).where(func.lower(User.email) == email.strip().lower(), User.deleted_at.is_(None))
    return await session.scalar(query)


# ---------------------------------------------------------------- sidebar preferences


async def sidebar_preference(
    session: AsyncSession, tenant_id: uuid.UUID, *, user_id: uuid.UUID | None = None, role_id: uuid.UUID | None = None
) -> SidebarPreference | None:
    """The preferences stored for exactly this user, or this role (the other left None)."""
    return await session.scalar(
        select(SidebarPreference).where(
            SidebarPreference.tenant_id == tenant_id,
            SidebarPreference.user_id == user_id if user_id else SidebarPreference.user_id.is_(None),
            SidebarPreference.role_id == role_id if role_id else SidebarPreference.role_id.is_(None),
        )
    )


async def any_role_sidebar_preference(
    session: AsyncSession, tenant_id: uuid.UUID, role_ids: Iterable[uuid.UUID]
) -> SidebarPreference | None:
    """The preferences of one of these roles (any one)."""
    query = select(SidebarPreference).where(
        SidebarPreference.tenant_id == tenant_id, SidebarPreference.role_id.in_(list(role_ids))
    )
    return await session.scalar(query.limit(1))


async def roles_with_sidebar_preference(session: AsyncSession, tenant_id: uuid.UUID) -> set[uuid.UUID]:
    query = select(SidebarPreference.role_id).where(
        SidebarPreference.tenant_id == tenant_id, SidebarPreference.role_id.is_not(None)
    )
    return {r for r in (await session.scalars(query)).all() if r is not None}


# ---------------------------------------------------------------- API keys


def readable_api_keys(principal: Principal) -> Select[ApiKey, str]:
    """The tenant's live keys with their organization's name; for an organization-restricted caller
    only the keys of organizations it may act in (one of them or a descendant)."""
    query = (
        select(ApiKey, Organization.name)
        .outerjoin(Organization, Organization.id == ApiKey.organization_id)
        .where(ApiKey.tenant_id == principal.tenant_id, ApiKey.deleted_at.is_(None))
    )
    allowed = restricted_to(principal)
    if allowed is not None:
        query = query.where(or_(false(), *[Organization.tree_path.contains(org) for org in allowed]))
    return query


async def readable_api_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKey | None:
    key = await session.get(ApiKey, key_id)
    if key is None or key.deleted_at is not None or key.tenant_id != principal.tenant_id:
        return None
    if restricted_to(principal) is not None:
        org = await session.get(Organization, key.organization_id) if key.organization_id else None
        if org is None or not org_allowed(principal, org):
            return None
    return key


def restricted_to(principal: Principal) -> tuple[str, ...] | None:
    """The organizations an organization-restricted caller may act in; None when unrestricted."""
    return None if principal.is_super_admin else principal.organizations


async def api_key_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    """The key whose secret hashes to `key_hash` (deleted and expired ones too: the caller checks)."""
    return await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


# ---------------------------------------------------------------- sessions and password resets


async def session_by_refresh_hash(session: AsyncSession, token_hash: str) -> AuthSession | None:
    return await session.scalar(select(AuthSession).where(AuthSession.refresh_token_hash == token_hash))


async def revoke_user_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Ends every open session of the user."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now())
    )


async def revoke_session(session: AsyncSession, session_id: uuid.UUID) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now())
    )


async def password_reset_for_update(session: AsyncSession, token_hash: str) -> PasswordReset | None:
    """The reset whose token hashes to `token_hash`, locked until the transaction ends (single use)."""
    query = select(PasswordReset).where(PasswordReset.token_hash == token_hash).with_for_update()
    return await session.scalar(query)
