"""Directory: tenants and organizations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.common import page_params, required_id
from api.deps import CurrentPrincipal, Session, features_doc, require
from api.schemas.common import Created, Ok, PositionedPage
from api.schemas.directory import (
    IdBody,
    OrganizationCreate,
    OrganizationList,
    OrganizationSwitcher,
    OrganizationUpdate,
    Tenant,
    TenantCreate,
    TenantLookup,
    TenantRef,
    TenantUpdate,
)
from engine.auth import directory
from engine.auth.schemas import Principal
from engine.auth.scope import parse_uuid
from engine.errors import Forbidden

router = APIRouter(tags=["Directory"])


def _super_admin_only(principal: Principal) -> None:
    # Creating or removing tenants is platform administration, beyond any one tenant's admins.
    if not principal.is_super_admin:
        raise Forbidden("Insufficient permissions")


@router.get(
    "/directory/tenants",
    summary="List tenants",
    response_model=PositionedPage[Tenant],
    openapi_extra=features_doc("directory.tenants.view"),
)
async def list_tenants(
    principal: Annotated[Principal, Depends(require("directory.tenants.view"))],
    session: Session,
    id: str | None = None,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
    search: str | None = None,
    sort_field: Annotated[str | None, Query(alias="sortField")] = None,
    sort_dir: Annotated[str | None, Query(alias="sortDir")] = None,
    is_active: Annotated[bool | None, Query(alias="isActive")] = None,
) -> PositionedPage[Tenant]:
    """A super admin sees every tenant; anyone else only their own."""
    params = page_params(page, page_size)
    rows, total = await directory.list_tenants(
        session,
        principal,
        params,
        tenant_id=parse_uuid(id, "id"),
        search=search,
        sort_field=sort_field,
        sort_dir=sort_dir,
        is_active=is_active,
    )
    return PositionedPage[Tenant].of([Tenant.of(row) for row in rows], total, params)


@router.post(
    "/directory/tenants",
    status_code=201,
    summary="Create a tenant",
    response_model=Created,
    openapi_extra=features_doc("directory.tenants.manage"),
)
async def create_tenant(
    principal: Annotated[Principal, Depends(require("directory.tenants.manage"))], session: Session, body: TenantCreate
) -> Created:
    """Seeds the tenant's standard roles (superadmin, admin, employee, consumer)."""
    _super_admin_only(principal)
    tenant = await directory.create_tenant(session, body.name, body.is_active)
    return Created(id=str(tenant.id))


@router.put(
    "/directory/tenants",
    summary="Update a tenant",
    response_model=Ok,
    openapi_extra=features_doc("directory.tenants.manage"),
)
async def update_tenant(
    principal: Annotated[Principal, Depends(require("directory.tenants.manage"))], session: Session, body: TenantUpdate
) -> Ok:
    await directory.update_tenant(session, principal, body.id, body.name, body.is_active)
    return Ok(ok=True)


@router.delete(
    "/directory/tenants",
    summary="Delete a tenant",
    response_model=Ok,
    openapi_extra=features_doc("directory.tenants.manage"),
)
async def delete_tenant(
    principal: Annotated[Principal, Depends(require("directory.tenants.manage"))], session: Session, body: IdBody
) -> Ok:
    _super_admin_only(principal)
    await directory.delete_tenant(session, principal, body.id)
    return Ok(ok=True)


@router.get(
    "/directory/tenants/lookup",
    summary="Look up an active tenant by id",
    response_model=TenantLookup,
    responses={404: {"description": "Unknown tenant"}},
)
async def lookup_tenant(
    session: Session, tenant_id: Annotated[str | None, Query(alias="tenantId")] = None
) -> TenantLookup:
    """Public: lets a sign-in page show which tenant a link belongs to (id and name only)."""
    tenant = await directory.lookup_tenant(session, required_id(tenant_id, "tenantId"))
    return TenantLookup(ok=True, tenant=TenantRef(id=str(tenant.id), name=tenant.name))


@router.get(
    "/directory/organization-switcher",
    summary="Organizations the caller can switch between",
    response_model=OrganizationSwitcher,
)
async def organization_switcher(principal: CurrentPrincipal, session: Session) -> OrganizationSwitcher:
    return OrganizationSwitcher.of(principal, *await directory.organization_switcher(session, principal))


@router.get(
    "/directory/organizations",
    summary="List organizations",
    response_model=OrganizationList,
    # Keys a view doesn't have (paging fields, `children`) stay absent rather than null.
    response_model_exclude_unset=True,
    openapi_extra=features_doc("directory.organizations.view"),
)
async def list_organizations(
    principal: Annotated[Principal, Depends(require("directory.organizations.view"))],
    session: Session,
    page: int | None = None,
    page_size: Annotated[int | None, Query(alias="pageSize")] = None,
    search: str | None = None,
    view: str | None = None,
    ids: str | None = None,
    tenant_id: Annotated[str | None, Query(alias="tenantId")] = None,
    include_inactive: Annotated[bool, Query(alias="includeInactive")] = False,
    status: str | None = None,
) -> OrganizationList:
    """`view=tree` nests children; `page`/`pageSize` page the flat list; `ids` is comma-separated."""
    params = page_params(page or 1, page_size or 50) if page or page_size else None
    id_list = [parse_uuid(i, "ids") for i in (ids or "").split(",") if i]
    found = await directory.list_organizations(
        session,
        principal,
        params=params,
        search=search,
        view=view,
        ids=[i for i in id_list if i],
        tenant_id=parse_uuid(tenant_id, "tenantId"),
        include_inactive=include_inactive,
        status=status,
    )
    return OrganizationList.of(found, params)


@router.post(
    "/directory/organizations",
    status_code=201,
    summary="Create an organization",
    response_model=Created,
    openapi_extra=features_doc("directory.organizations.manage"),
)
async def create_organization(
    principal: Annotated[Principal, Depends(require("directory.organizations.manage"))],
    session: Session,
    body: OrganizationCreate,
) -> Created:
    org = await directory.create_organization(
        session, principal, name=body.name, parent_id=body.parent_id, tenant_id=body.tenant_id, is_active=body.is_active
    )
    return Created(id=str(org.id))


@router.put(
    "/directory/organizations",
    summary="Update or move an organization",
    response_model=Ok,
    openapi_extra=features_doc("directory.organizations.manage"),
)
async def update_organization(
    principal: Annotated[Principal, Depends(require("directory.organizations.manage"))],
    session: Session,
    body: OrganizationUpdate,
) -> Ok:
    await directory.update_organization(
        session,
        principal,
        body.id,
        name=body.name,
        parent_id=body.parent_id,
        parent_given="parent_id" in body.model_fields_set,
        is_active=body.is_active,
    )
    return Ok(ok=True)


@router.delete(
    "/directory/organizations",
    summary="Delete an organization",
    response_model=Ok,
    openapi_extra=features_doc("directory.organizations.manage"),
)
async def delete_organization(
    principal: Annotated[Principal, Depends(require("directory.organizations.manage"))], session: Session, body: IdBody
) -> Ok:
    """Refused (400) while the organization has children; its users are detached."""
    await directory.delete_organization(session, principal, body.id)
    return Ok(ok=True)
