"""Roles and their ACLs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.acl import AclOwner, add_acl_routes
from api.common import page_params, required_id
from api.deps import Session, features_doc, require
from api.schemas.auth import Acl, Role, RoleAclBody, RoleCreate, RoleUpdate
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
) -> Page[Role]:
    params = page_params(page, page_size)
    rows, total = await accounts.list_roles(
        session,
        principal,
        params,
        role_id=parse_uuid(id, "id"),
        search=search,
        tenant_id=parse_uuid(tenant_id, "tenantId"),
    )
    return Page[Role].of([Role.of(*row) for row in rows], total, params)


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


# ---------------------------------------------------------------- ACL


def _role_id(
    role_id: Annotated[str | None, Query(alias="roleId")] = None,
    tenant_id: Annotated[str | None, Query(alias="tenantId")] = None,  # accepted (the contract lists it), not needed
) -> uuid.UUID:
    return required_id(role_id, "roleId")


def _acl_body(body: RoleAclBody) -> RoleAclBody:
    return body


async def _read_acl(session: AsyncSession, principal: Principal, role_id: uuid.UUID) -> Acl:
    return Acl.of(await accounts.get_role_acl(session, principal, role_id))


async def _write_acl(session: AsyncSession, principal: Principal, body: RoleAclBody) -> bool:
    return await accounts.put_role_acl(session, principal, body.role_id, body.change())


add_acl_routes(
    router,
    AclOwner(
        noun="role",
        answer=Acl,
        target=_role_id,
        body=_acl_body,
        read=_read_acl,
        write=_write_acl,
        get_summary="A role's access control list",
        put_summary="Replace a role's access control list",
        put_description="Features the catalog doesn't declare, or that the caller doesn't hold, are dropped\n"
        "(`sanitized: true`).",
    ),
)
