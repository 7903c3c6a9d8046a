"""Roles and their ACLs."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from api.common import Camel, page_params, required_id
from api.deps import Session, features_doc, require
from api.schemas.auth import (
    Acl,
    AclSaved,
    Role,
    RoleAclBody,
)
from api.schemas.common import Created, Ok, Page
from engine.auth import accounts
from engine.auth.schemas import Principal
from engine.auth.scope import parse_uuid

router = APIRouter(tags=["Authentication & Accounts"])


# ---------------------------------------------------------------- roles


@router.get(
    "/auth/roles", summary="List roles", response_model=Page[Role], openapi_extra=features_doc("auth.roles.list")
)
async def list_roles(
    principal: Annotated[Principal, Depends(require("auth.roles.list"))],
    session: Session,
    id: str | None = None,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
    search: str | None = None,
    tenant_id: Annotated[str | None, Query(alias="tenantId")] = None,
) -> dict[str, Any]:

    return await accounts.list_roles(
        session,
        principal,
        page_params(page, page_size),
        role_id=parse_uuid(id, "id"),
        search=search,
        tenant_id=parse_uuid(tenant_id, "tenantId"),
    )


class RoleCreate(Camel):
    name: str
    tenant_id: uuid.UUID | None = Field(default=None, alias="tenantId")


class RoleUpdate(Camel):
    id: uuid.UUID
    name: str | None = None
    tenant_id: uuid.UUID | None = Field(default=None, alias="tenantId")


@router.post(
    "/auth/roles",
    status_code=201,
    summary="Create a role",
    response_model=Created,
    openapi_extra=features_doc("auth.roles.manage"),
)
async def create_role(
    principal: Annotated[Principal, Depends(require("auth.roles.manage"))], session: Session, body: RoleCreate
) -> Created:
    role = await accounts.create_role(session, principal, body.name, body.tenant_id)
    return Created(id=str(role.id))


@router.put("/auth/roles", summary="Update a role", response_model=Ok, openapi_extra=features_doc("auth.roles.manage"))
async def update_role(
    principal: Annotated[Principal, Depends(require("auth.roles.manage"))], session: Session, body: RoleUpdate
) -> Ok:
    await accounts.update_role(session, principal, body.id, body.name)
    return Ok(ok=True)


@router.delete(
    "/auth/roles", summary="Delete a role", response_model=Ok, openapi_extra=features_doc("auth.roles.manage")
)
async def delete_role(
    principal: Annotated[Principal, Depends(require("auth.roles.manage"))], session: Session, id: str | None = None
) -> Ok:
    await accounts.delete_role(session, principal, required_id(id))
    return Ok(ok=True)


@router.get(
    "/auth/roles/acl",
    summary="A role's access control list",
    response_model=Acl,
    openapi_extra=features_doc("auth.acl.manage"),
)
async def get_role_acl(
    principal: Annotated[Principal, Depends(require("auth.acl.manage"))],
    session: Session,
    role_id: Annotated[str | None, Query(alias="roleId")] = None,
    tenant_id: Annotated[str | None, Query(alias="tenantId")] = None,
) -> dict[str, Any]:
    return await accounts.get_role_acl(session, principal, required_id(role_id, "roleId"))


@router.put(
    "/auth/roles/acl",
    summary="Replace a role's access control list",
    response_model=AclSaved,
    openapi_extra=features_doc("auth.acl.manage"),
)
async def put_role_acl(
    principal: Annotated[Principal, Depends(require("auth.acl.manage"))], session: Session, body: RoleAclBody
) -> AclSaved:
    """Features the catalog doesn't declare, or that the caller doesn't hold, are dropped
    (`sanitized: true`)."""
    sanitized = await accounts.put_role_acl(
        session,
        principal,
        body.role_id,
        features=body.features,
        is_super_admin=body.is_super_admin,
        organizations=body.organizations,
        organizations_given="organizations" in body.model_fields_set,
    )
    return AclSaved(ok=True, sanitized=sanitized)
