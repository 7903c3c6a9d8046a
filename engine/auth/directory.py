"""Tenants and their organization trees."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from engine import modules
from engine.auth import repository
from engine.auth.schemas import Principal
from engine.auth.scope import org_allowed as org_allowed  # re-exported: callers outside auth use it from here
from engine.auth.scope import tenant_for
from engine.clock import now
from engine.db.models import Organization, Role, RoleAcl, Tenant
from engine.errors import BadRequest, NotFound
from engine.pagination import PageParams, page_of, sort_order

TENANT_SORT_FIELDS = {"name": Tenant.name, "createdAt": Tenant.created_at, "updatedAt": Tenant.updated_at}


async def seed_tenant_roles(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, Role]:
    """Creates the four standard roles of a tenant (idempotent)."""
    roles: dict[str, Role] = {}
    for name in modules.SEEDED_ROLES:
        role = await repository.role_named(session, tenant_id, name)
        if role is None:
            role = Role(id=uuid.uuid4(), tenant_id=tenant_id, name=name)
            session.add(role)
            await session.flush()
            session.add(
                RoleAcl(
                    role_id=role.id,
                    features=modules.default_grants(name),
                    is_super_admin=name == "superadmin",
                    organizations=None,
                )
            )
        roles[name] = role
    await session.flush()
    return roles


async def list_tenants(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    tenant_id: uuid.UUID | None,
    search: str | None,
    sort_field: str | None,
    sort_dir: str | None,
    is_active: bool | None,
) -> tuple[list[Tenant], int]:
    query = repository.readable_tenants(principal)
    if tenant_id is not None:
        query = query.where(Tenant.id == tenant_id)
    if search:
        query = query.where(Tenant.name.ilike(f"%{search}%"))
    if is_active is not None:
        query = query.where(Tenant.is_active.is_(is_active))
    order = sort_order(TENANT_SORT_FIELDS, sort_field, sort_dir, default="name")
    total, page = await page_of(session, query, params, order, Tenant.id)
    return list(page.scalars()), total


async def create_tenant(session: AsyncSession, name: str, is_active: bool = True) -> Tenant:
    if not (name or "").strip():
        raise BadRequest("Tenant name is required")
    tenant = Tenant(id=uuid.uuid4(), name=name.strip(), is_active=is_active)
    session.add(tenant)
    await session.flush()
    await seed_tenant_roles(session, tenant.id)
    return tenant


async def get_tenant(session: AsyncSession, principal: Principal, tenant_id: uuid.UUID) -> Tenant:
    tenant = await repository.readable_tenant(session, principal, tenant_id)
    if tenant is None:
        raise NotFound("Tenant not found")
    return tenant


async def update_tenant(
    session: AsyncSession, principal: Principal, tenant_id: uuid.UUID, name: str | None, is_active: bool | None
) -> None:
    tenant = await get_tenant(session, principal, tenant_id)
    if name is not None:
        if not name.strip():
            raise BadRequest("Tenant name is required")
        tenant.name = name.strip()
    if is_active is not None:
        if not is_active and tenant.id == principal.tenant_id:
            raise BadRequest("You cannot deactivate your own tenant")
        tenant.is_active = is_active
    await session.flush()


async def delete_tenant(session: AsyncSession, principal: Principal, tenant_id: uuid.UUID) -> None:
    tenant = await get_tenant(session, principal, tenant_id)
    if tenant.id == principal.tenant_id:
        raise BadRequest("You cannot delete your own tenant")
    tenant.deleted_at = now()
    tenant.is_active = False
    await session.flush()


async def lookup_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await repository.live_tenant(session, tenant_id)
    if tenant is None:
        raise NotFound("Tenant not found")
    return tenant


# ---------------------------------------------------------------- organizations


async def _org(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> Organization:
    org = await repository.readable_organization(session, principal, org_id)
    if org is None:
        raise NotFound("Organization not found")
    return org


@dataclass(frozen=True)
class Organizations:
    """The organizations a list shows (`total` only when paged, `tree` for the nested view), with
    the names the answer repeats: parents' (visible ones only) and the tenant's."""

    items: list[Organization]
    parent_names: dict[uuid.UUID, str]
    tenant_name: str
    tree: bool = False
    total: int | None = None


async def list_organizations(
    session: AsyncSession,
    principal: Principal,
    *,
    params: PageParams | None,
    search: str | None,
    view: str | None,
    ids: list[uuid.UUID],
    tenant_id: uuid.UUID | None,
    include_inactive: bool,
    status: str | None,
) -> Organizations:
    tenant = tenant_for(principal, tenant_id)
    if status not in (None, "", "all", "active", "inactive"):
        raise BadRequest("status must be one of all, active, inactive")
    if view not in (None, "", "options", "tree", "manage"):
        raise BadRequest("view must be one of options, tree, manage")
    orgs = [o for o in await repository.tenant_organizations(session, tenant) if org_allowed(principal, o)]
    if status == "active" or (not include_inactive and status in (None, "")):
        orgs = [o for o in orgs if o.is_active]
    elif status == "inactive":
        orgs = [o for o in orgs if not o.is_active]
    names = {o.id: o.name for o in orgs}
    tenant_row = await session.get(Tenant, tenant)
    tenant_name = tenant_row.name if tenant_row else ""
    if view == "tree":
        return Organizations(orgs, names, tenant_name, tree=True)
    if ids:
        orgs = [o for o in orgs if o.id in ids]
    if search:
        orgs = [o for o in orgs if search.lower() in o.name.lower()]
    if params is None:
        return Organizations(orgs, names, tenant_name)
    page = orgs[params.offset : params.offset + params.page_size]
    return Organizations(page, names, tenant_name, total=len(orgs))


def _place(org: Organization, parent: Organization | None) -> None:
    if parent is None:
        org.root_id, org.tree_path, org.depth = org.id, str(org.id), 0
    else:
        org.root_id = parent.root_id or parent.id
        org.tree_path = f"{parent.tree_path or parent.id}/{org.id}"
        org.depth = parent.depth + 1


async def create_organization(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    parent_id: uuid.UUID | None,
    tenant_id: uuid.UUID | None,
    is_active: bool,
) -> Organization:
    if not (name or "").strip():
        raise BadRequest("Organization name is required")
    tenant = tenant_for(principal, tenant_id)
    parent = await _org(session, principal, parent_id) if parent_id else None
    if parent is not None and parent.tenant_id != tenant:
        raise BadRequest("Parent organization belongs to another tenant")
    org = Organization(id=uuid.uuid4(), tenant_id=tenant, name=name.strip(), parent_id=parent_id, is_active=is_active)
    _place(org, parent)
    session.add(org)
    await session.flush()
    return org


async def update_organization(
    session: AsyncSession,
    principal: Principal,
    org_id: uuid.UUID,
    *,
    name: str | None,
    parent_id: uuid.UUID | None,
    parent_given: bool,
    is_active: bool | None,
) -> None:
    org = await _org(session, principal, org_id)
    if name is not None:
        if not name.strip():
            raise BadRequest("Organization name is required")
        org.name = name.strip()
    if is_active is not None:
        org.is_active = is_active
    if parent_given and parent_id != org.parent_id:
        parent = await _org(session, principal, parent_id) if parent_id else None
        if parent is not None:
            if parent.tenant_id != org.tenant_id:
                raise BadRequest("Parent organization belongs to another tenant")
            if str(org.id) in (parent.tree_path or "").split("/"):
                raise BadRequest("An organization cannot be moved under itself or its descendants")
        old_path = org.tree_path or str(org.id)
        org.parent_id = parent_id
        _place(org, parent)
        # Re-root the whole subtree: descendants' paths start with the old path.
        for node in await repository.descendants(session, org.tenant_id, old_path):
            suffix = (node.tree_path or "")[len(old_path) :]
            node.tree_path = f"{org.tree_path}{suffix}"
            node.root_id = org.root_id
            node.depth = len(node.tree_path.split("/")) - 1
    await session.flush()


async def delete_organization(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> None:
    org = await _org(session, principal, org_id)
    if await repository.count_children(session, org.id):
        raise BadRequest("Organization has child organizations")
    org.deleted_at = now()
    await repository.detach_users(session, org.id)
    await session.flush()


async def organization_switcher(session: AsyncSession, principal: Principal) -> tuple[list[Organization], list[Tenant]]:
    """The active organizations the caller may switch to (parents first), and the tenants it sees
    (every one for a super admin, by name)."""
    orgs = await repository.tenant_organizations(session, principal.tenant_id, include_inactive=False)
    tenants = (await session.scalars(repository.readable_tenants(principal).order_by(Tenant.name))).all()
    return [o for o in orgs if org_allowed(principal, o)], list(tenants)
