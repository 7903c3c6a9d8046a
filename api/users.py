"""Users and their personal ACLs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.acl import AclOwner, add_acl_routes
from api.common import page_params, required_id
from api.deps import Session, features_doc, require
from api.schemas.auth import User, UserAcl, UserAclBody, UserCreate, UserUpdate
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
) -> Page[User]:
    """`roleIds` may be repeated or comma-separated."""
    ids = [parse_uuid(r, "roleIds") for value in role_ids or [] for r in value.split(",") if r]
    params = page_params(page, page_size)
    entries, total = await accounts.list_users(
        session,
        principal,
        params,
        user_id=parse_uuid(id, "id"),
        search=search,
        organization_id=parse_uuid(organization_id, "organizationId"),
        role_ids=[i for i in ids if i],
    )
    return Page[User].of([User.of(e) for e in entries], total, params)


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


# ---------------------------------------------------------------- ACL


def _user_id(user_id: Annotated[str | None, Query(alias="userId")] = None) -> uuid.UUID:
    return required_id(user_id, "userId")


def _acl_body(body: UserAclBody) -> UserAclBody:
    return body


async def _read_acl(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> UserAcl:
    return UserAcl.of(*await accounts.get_user_acl(session, principal, user_id))


async def _write_acl(session: AsyncSession, principal: Principal, body: UserAclBody) -> bool:
    clear = body.has_custom_acl is False
    return await accounts.put_user_acl(session, principal, body.user_id, body.change(), clear=clear)


add_acl_routes(
    router,
    AclOwner(
        noun="user",
        answer=UserAcl,
        target=_user_id,
        body=_acl_body,
        read=_read_acl,
        write=_write_acl,
        get_summary="A user's access control list",
        put_summary="Set or clear a user's own access control list",
        get_description="Without a custom ACL (`hasCustomAcl: false`) this shows what the user's roles grant.",
        put_description="A custom ACL replaces what the roles grant; send `hasCustomAcl: false` to remove it.",
    ),
)
