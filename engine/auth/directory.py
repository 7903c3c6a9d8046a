"""Tenants and their organization trees."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine import modules
from engine.auth.schemas import Principal
from engine.auth.scope import tenant_for, visible_tenant
from engine.clock import now
from engine.db.models import Organization, Role, RoleAcl, Tenant, User
from engine.errors import BadRequest, NotFound
from engine.pagination import PageParams, page_body, page_of, sort_order

TENANT_SORT_FIELDS = {"name": Tenant.name, "createdAt": Tenant.created_at, "updatedAt": Tenant.updated_at}


async def seed_tenant_roles(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, Role]:
    """Creates the four standard roles of a tenant (idempotent)."""
    roles: dict[str, Role] = {}
    for name in modules.SEEDED_ROLES:
        role = await session.scalar(select(Role).where(Role.tenant_id == tenant_id, Role.name == name))
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
    query = select(Tenant).where(Tenant.deleted_at.is_(None))
    if not principal.is_super_admin:
        query = query.where(Tenant.id == principal.tenant_id)
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
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None or tenant.deleted_at is not None or not visible_tenant(principal, tenant.id):
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
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None or tenant.deleted_at is not None or not tenant.is_active:
        raise NotFound("Tenant not found")
    return tenant


# ---------------------------------------------------------------- organizations


def org_allowed(principal: Principal, org: Organization) -> bool:
    """Whether the caller's organization restriction (if any) covers this node or an ancestor."""
    if principal.is_super_admin or principal.organizations is None:
        return True
    path = (org.tree_path or str(org.id)).split("/")
    return any(o in path for o in principal.organizations)


async def _org(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, org_id)
    if (
        org is None
        or org.deleted_at is not None
        or not visible_tenant(principal, org.tenant_id)
        or not org_allowed(principal, org)
    ):
        raise NotFound("Organization not found")
    return org


def org_body(org: Organization, names: dict[uuid.UUID, str], tenant_names: dict[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "id": str(org.id),
        "name": org.name,
        "parentId": str(org.parent_id) if org.parent_id else None,
        "parentName": names.get(org.parent_id) if org.parent_id else None,
        "tenantId": str(org.tenant_id),
        "tenantName": tenant_names.get(org.tenant_id),
        "rootId": str(org.root_id) if org.root_id else None,
        "treePath": org.tree_path,
        "depth": org.depth,
        "isActive": org.is_active,
    }


async def tenant_organizations(
    session: AsyncSession, tenant_id: uuid.UUID, include_inactive: bool = True
) -> list[Organization]:
    query = select(Organization).where(Organization.tenant_id == tenant_id, Organization.deleted_at.is_(None))
    if not include_inactive:
        query = query.where(Organization.is_active.is_(True))
    return list((await session.scalars(query.order_by(Organization.tree_path, Organization.name))).all())


def build_tree(orgs: list[Organization], make: Any) -> list[dict[str, Any]]:
    nodes = {o.id: {**make(o), "children": []} for o in orgs}
    roots: list[dict[str, Any]] = []
    for org in orgs:
        parent = nodes.get(org.parent_id) if org.parent_id else None
        (parent["children"] if parent else roots).append(nodes[org.id])
    return roots


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
) -> dict[str, Any]:
    tenant = tenant_for(principal, tenant_id)
    if status not in (None, "", "all", "active", "inactive"):
        raise BadRequest("status must be one of all, active, inactive")
    if view not in (None, "", "options", "tree", "manage"):
        raise BadRequest("view must be one of options, tree, manage")
    orgs = [o for o in await tenant_organizations(session, tenant) if org_allowed(principal, o)]
    if status == "active" or (not include_inactive and status in (None, "")):
        orgs = [o for o in orgs if o.is_active]
    elif status == "inactive":
        orgs = [o for o in orgs if not o.is_active]
    names = {o.id: o.name for o in orgs}
    tenant_row = await session.get(Tenant, tenant)
    tenant_names = {tenant: tenant_row.name if tenant_row else ""}
    if view == "tree":
        return {"items": build_tree(orgs, lambda o: org_body(o, names, tenant_names))}
    if ids:
        orgs = [o for o in orgs if o.id in ids]
    if search:
        orgs = [o for o in orgs if search.lower() in o.name.lower()]
    if params is None:
        return {"items": [org_body(o, names, tenant_names) for o in orgs]}
    total = len(orgs)
    page = orgs[params.offset : params.offset + params.page_size]
    return page_body([org_body(o, names, tenant_names) for o in page], total, params)


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
        descendants = (
            await session.scalars(
                select(Organization).where(
                    Organization.tenant_id == org.tenant_id, Organization.tree_path.like(f"{old_path}/%")
                )
            )
        ).all()
        for node in descendants:
            suffix = (node.tree_path or "")[len(old_path) :]
            node.tree_path = f"{org.tree_path}{suffix}"
            node.root_id = org.root_id
            node.depth = len(node.tree_path.split("/")) - 1
    await session.flush()


async def delete_organization(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> None:
    org = await _org(session, principal, org_id)
    children = await session.scalar(
        select(func.count()).where(Organization.parent_id == org.id, Organization.deleted_at.is_(None))
    )
    if children:
        raise BadRequest("Organization has child organizations")
    org.deleted_at = now()
    await session.execute(update(User).where(User.organization_id == org.id).values(organization_id=None))
    await session.flush()


async def organization_switcher(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    orgs = await tenant_organizations(session, principal.tenant_id, include_inactive=False)
    visible = [o for o in orgs if org_allowed(principal, o)]
    items = build_tree(
        visible,
        lambda o: {"id": str(o.id), "name": o.name, "depth": o.depth, "selectable": True},
    )
    tenants: list[dict[str, Any]] = []
    if principal.is_super_admin:
        rows = (await session.scalars(select(Tenant).where(Tenant.deleted_at.is_(None)).order_by(Tenant.name))).all()
        tenants = [{"id": str(t.id), "name": t.name, "isActive": t.is_active} for t in rows]
    else:
        own = await session.get(Tenant, principal.tenant_id)
        if own is not None:
            tenants = [{"id": str(own.id), "name": own.name, "isActive": own.is_active}]
    return {
        "items": items,
        "selectedId": str(principal.organization_id) if principal.organization_id else None,
        "canManage": principal.can("directory.organizations.manage"),
        "tenantId": str(principal.tenant_id),
        "tenants": tenants,
        "isSuperAdmin": principal.is_super_admin,
    }
