"""The access-control-list routes of roles and users (`GET`/`PUT /auth/{roles,users}/acl`),
defined once: each owner (api/roles.py, api/users.py) names its query id, body, reader and writer."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Session, features_doc, require
from api.schemas.auth import AclBody, AclSaved
from api.schemas.common import Body
from engine.auth.schemas import Principal

FEATURE = "auth.acl.manage"

AclManager = Annotated[Principal, Depends(require(FEATURE))]


@dataclass(frozen=True)
class AclOwner:
    noun: str  # "role" or "user": the path is /auth/<noun>s/acl, the handlers get_<noun>_acl, put_<noun>_acl
    answer: type[Body]
    target: Callable[..., uuid.UUID]  # a dependency: the owner's id from the query
    body: Callable[..., AclBody]  # a dependency: the owner's request body
    read: Callable[[AsyncSession, Principal, uuid.UUID], Awaitable[Body]]
    write: Callable[[AsyncSession, Principal, Any], Awaitable[bool]]  # True when features were dropped
    get_summary: str
    put_summary: str
    get_description: str | None = None
    put_description: str | None = None


def add_acl_routes(router: APIRouter, owner: AclOwner) -> None:
    path = f"/auth/{owner.noun}s/acl"

    @router.get(
        path,
        name=f"get_{owner.noun}_acl",
        summary=owner.get_summary,
        description=owner.get_description,
        response_model=owner.answer,
        openapi_extra=features_doc(FEATURE),
    )
    async def get_acl(principal: AclManager, session: Session, target: uuid.UUID = Depends(owner.target)) -> Body:
        return await owner.read(session, principal, target)

    @router.put(
        path,
        name=f"put_{owner.noun}_acl",
        summary=owner.put_summary,
        description=owner.put_description,
        response_model=AclSaved,
        openapi_extra=features_doc(FEATURE),
    )
    async def put_acl(principal: AclManager, session: Session, body: AclBody = Depends(owner.body)) -> AclSaved:
        return AclSaved(ok=True, sanitized=await owner.write(session, principal, body))
