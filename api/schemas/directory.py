"""Request and response bodies of Directory. Services return rows or typed results; the answers
are built here (`.of(...)`)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import Field

from api.schemas.common import Body, Input
from engine.auth.directory import Organizations
from engine.auth.schemas import Principal
from engine.clock import iso
from engine.db import models
from engine.pagination import PageParams


class Tenant(Body):
    id: str
    name: str
    isActive: bool
    createdAt: str
    updatedAt: str

    @classmethod
    def of(cls, row: models.Tenant) -> Tenant:
        """The answer for a tenant row (services return rows; answers are built here)."""
        return cls(
            id=str(row.id),
            name=row.name,
            isActive=row.is_active,
            createdAt=iso(row.created_at),
            updatedAt=iso(row.updated_at),
        )


class TenantRef(Body):
    id: str
    name: str


class TenantLookup(Body):
    ok: bool
    tenant: TenantRef


class Organization(Body):
    """`treePath` is the chain of ancestor ids (root first, this node last) joined by `/`."""

    id: str
    name: str
    parentId: str | None
    parentName: str | None
    tenantId: str
    tenantName: str
    rootId: str | None
    treePath: str | None
    depth: int
    isActive: bool
    children: list[Organization] = Field(default_factory=list, description="Only with `view=tree`.")

    @classmethod
    def of(cls, org: models.Organization, found: Organizations, *, nested: bool = False) -> Organization:
        """`children` is set (empty, to fill) only for the tree; unset, the flat list leaves it out."""
        extra: dict[str, Any] = {"children": []} if nested else {}
        return cls(
            **extra,
            id=str(org.id),
            name=org.name,
            parentId=str(org.parent_id) if org.parent_id else None,
            parentName=found.parent_names.get(org.parent_id) if org.parent_id else None,
            tenantId=str(org.tenant_id),
            tenantName=found.tenant_name,
            rootId=str(org.root_id) if org.root_id else None,
            treePath=org.tree_path,
            depth=org.depth,
            isActive=org.is_active,
        )


class OrganizationList(Body):
    """The paging fields are present only when `page` or `pageSize` is given."""

    items: list[Organization]
    total: int | None = None
    totalPages: int | None = None
    page: int | None = None
    pageSize: int | None = None

    @classmethod
    def of(cls, found: Organizations, params: PageParams | None) -> OrganizationList:
        if found.tree:
            return cls(items=nest(found.items, lambda o: Organization.of(o, found, nested=True)))
        items = [Organization.of(o, found) for o in found.items]
        if found.total is None or params is None:
            return cls(items=items)
        return cls(
            items=items,
            total=found.total,
            totalPages=math.ceil(found.total / params.page_size),
            page=params.page,
            pageSize=params.page_size,
        )


class SwitcherNode(Body):
    id: str
    name: str
    depth: int
    selectable: bool
    children: list[SwitcherNode]

    @classmethod
    def of(cls, org: models.Organization) -> SwitcherNode:
        return cls(id=str(org.id), name=org.name, depth=org.depth, selectable=True, children=[])


class SwitcherTenant(Body):
    id: str
    name: str
    isActive: bool

    @classmethod
    def of(cls, tenant: models.Tenant) -> SwitcherTenant:
        return cls(id=str(tenant.id), name=tenant.name, isActive=tenant.is_active)


class OrganizationSwitcher(Body):
    """`tenants` lists every tenant for a super admin, else only the caller's own."""

    items: list[SwitcherNode]
    selectedId: str | None
    canManage: bool
    tenantId: str
    tenants: list[SwitcherTenant]
    isSuperAdmin: bool

    @classmethod
    def of(
        cls, principal: Principal, orgs: list[models.Organization], tenants: list[models.Tenant]
    ) -> OrganizationSwitcher:
        return cls(
            items=nest(orgs, SwitcherNode.of),
            selectedId=str(principal.organization_id) if principal.organization_id else None,
            canManage=principal.can("directory.organizations.manage"),
            tenantId=str(principal.tenant_id),
            tenants=[SwitcherTenant.of(t) for t in tenants],
            isSuperAdmin=principal.is_super_admin,
        )


Node = TypeVar("Node", Organization, SwitcherNode)


def nest(orgs: list[models.Organization], make: Callable[[models.Organization], Node]) -> list[Node]:
    """The organizations as trees: each node (made with empty `children`) under its parent when
    the parent is listed, else a root; siblings in the order of `orgs`."""
    nodes = {o.id: make(o) for o in orgs}
    roots: list[Node] = []
    for org in orgs:
        parent = nodes.get(org.parent_id) if org.parent_id else None
        (parent.children if parent else roots).append(nodes[org.id])
    return roots


# ---------------------------------------------------------------- request bodies


class TenantCreate(Input):
    name: str
    is_active: bool = Field(default=True, alias="isActive")


class TenantUpdate(Input):
    id: uuid.UUID
    name: str | None = None
    is_active: bool | None = Field(default=None, alias="isActive")


class IdBody(Input):
    id: uuid.UUID


class OrganizationCreate(Input):
    name: str
    parent_id: uuid.UUID | None = Field(default=None, alias="parentId")
    tenant_id: uuid.UUID | None = Field(default=None, alias="tenantId")
    is_active: bool = Field(default=True, alias="isActive")


class OrganizationUpdate(Input):
    id: uuid.UUID
    name: str | None = None
    parent_id: uuid.UUID | None = Field(default=None, alias="parentId")
    is_active: bool | None = Field(default=None, alias="isActive")
