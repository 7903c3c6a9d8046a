"""Response bodies of Directory. Timestamps are ISO 8601 strings as the service formats them."""

from __future__ import annotations

from pydantic import Field

from api.schemas.common import Body
from engine.clock import iso
from engine.db import models


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


class OrganizationList(Body):
    """The paging fields are present only when `page` or `pageSize` is given."""

    items: list[Organization]
    total: int | None = None
    totalPages: int | None = None
    page: int | None = None
    pageSize: int | None = None


class SwitcherNode(Body):
    id: str
    name: str
    depth: int
    selectable: bool
    children: list[SwitcherNode]


class SwitcherTenant(Body):
    id: str
    name: str
    isActive: bool


class OrganizationSwitcher(Body):
    """`tenants` lists every tenant for a super admin, else only the caller's own."""

    items: list[SwitcherNode]
    selectedId: str | None
    canManage: bool
    tenantId: str
    tenants: list[SwitcherTenant]
    isSuperAdmin: bool
