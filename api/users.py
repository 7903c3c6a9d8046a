"""Users and their personal ACLs."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import Field

from api.common import Camel, page_params, required_id
from api.deps import Session, features_doc, require
from api.schemas.auth import (
    AclSaved,
    User,
    UserAcl,
    UserAclBody,
)
from api.schemas.common import Created, Ok, Page
from engine.auth import accounts
from engine.auth.schemas import Principal
from engine.auth.scope import parse_uuid

router = APIRouter(tags=["Authentication & Accounts"])


# ---------------------------------------------------------------- users


@router.get(
    "/auth/users", summary="List users", response_model=Page[User], openapi_extra=features_doc("auth.users.list")
)
async def list_users(
    principal: Annotated[Principal, Depends(require("auth.users.list"))],
    session: Session,
    id: str | None = None,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
    search: str | None = None,
    organization_id: Annotated[str | None, Query(alias="organizationId")] = None,
    role_ids: Annotated[list[str] | None, Query(alias="roleIds")] = None,
) -> dict[str, Any]:
    """`roleIds` may be repeated or comma-separated."""
    ids = [parse_uuid(r, "roleIds") for value in role_ids or [] for r in value.split(",") if r]
    return await accounts.list_users(
        session,
        principal,
        page_params(page, page_size),
        user_id=parse_uuid(id, "id"),
        search=search,
        organization_id=parse_uuid(organization_id, "organizationId"),
        role_ids=[i for i in ids if i],
    )


class UserCreate(Camel):
    email: str
    password: str | None = None
    name: str | None = None
    organization_id: uuid.UUID | None = Field(default=None, alias="organizationId")
    roles: list[str] = Field(default_factory=list)


class UserUpdate(Camel):
    id: uuid.UUID
    email: str | None = None
    password: str | None = None
    name: str | None = None
    organization_id: uuid.UUID | None = Field(default=None, alias="organizationId")
    roles: list[str] | None = None
    is_active: bool | None = Field(default=None, alias="isActive")


@router.post(
    "/auth/users",
    status_code=201,
    summary="Create a user",
    response_model=Created,
    openapi_extra=features_doc("auth.users.create"),
)
async def create_user(
    principal: Annotated[Principal, Depends(require("auth.users.create"))], session: Session, body: UserCreate
) -> Created:
    """`roles` are role names or ids of the user's tenant (the tenant of `organizationId`)."""
    user = await accounts.create_user(
        session,
        principal,
        email=body.email,
        password=body.password,
        organization_id=body.organization_id,
        roles=body.roles,
        name=body.name,
    )
    return Created(id=str(user.id))


@router.put("/auth/users", summary="Update a user", response_model=Ok, openapi_extra=features_doc("auth.users.edit"))
async def update_user(
    principal: Annotated[Principal, Depends(require("auth.users.edit"))], session: Session, body: UserUpdate
) -> Ok:
    await accounts.update_user(
        session,
        principal,
        body.id,
        email=body.email,
        password=body.password,
        organization_id=body.organization_id,
        organization_given="organization_id" in body.model_fields_set,
        roles=body.roles,
        name=body.name,
        is_active=body.is_active,
    )
    return Ok(ok=True)


@router.delete(
    "/auth/users", summary="Delete a user", response_model=Ok, openapi_extra=features_doc("auth.users.delete")
)
async def delete_user(
    principal: Annotated[Principal, Depends(require("auth.users.delete"))], session: Session, id: str | None = None
) -> Ok:
    await accounts.delete_user(session, principal, required_id(id))
    return Ok(ok=True)


@router.get(
    "/auth/users/acl",
    summary="A user's access control list",
    response_model=UserAcl,
    openapi_extra=features_doc("auth.acl.manage"),
)
async def get_user_acl(
    principal: Annotated[Principal, Depends(require("auth.acl.manage"))],
    session: Session,
    user_id: Annotated[str | None, Query(alias="userId")] = None,
) -> dict[str, Any]:
    """Without a custom ACL (`hasCustomAcl: false`) this shows what the user's roles grant."""
    return await accounts.get_user_acl(session, principal, required_id(user_id, "userId"))


@router.put(
    "/auth/users/acl",
    summary="Set or clear a user's own access control list",
    response_model=AclSaved,
    openapi_extra=features_doc("auth.acl.manage"),
)
async def put_user_acl(
    principal: Annotated[Principal, Depends(require("auth.acl.manage"))], session: Session, body: UserAclBody = Body()
) -> AclSaved:
    """A custom ACL replaces what the roles grant; send `hasCustomAcl: false` to remove it."""
    sanitized = await accounts.put_user_acl(
        session,
        principal,
        body.user_id,
        features=body.features,
        is_super_admin=body.is_super_admin,
        organizations=body.organizations,
        organizations_given="organizations" in body.model_fields_set,
        clear=body.has_custom_acl is False,
    )
    return AclSaved(ok=True, sanitized=sanitized)
