"""Invite codes: consumers generate and list their own, verify and apply (3 requests per minute
each); admins generate without the limit, list everything, revoke."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.auth import count_attempt
from api.common import page_params, required_id
from api.deps import Res, Session, features_doc, require
from api.schemas.common import Ok, Page
from api.schemas.invite_codes import (
    Activated,
    AdminCode,
    AdminGenerateBody,
    CodeBody,
    GeneratedCode,
    OwnCode,
    OwnCodes,
    RevokeBody,
    Verified,
)
from engine.auth.schemas import Principal
from engine.auth.scope import parse_uuid
from engine.errors import BadRequest
from engine.invite_codes import service

router = APIRouter(tags=["Invite Codes"])

Generate = Annotated[Principal, Depends(require("invite-codes.generate"))]
ListOwn = Annotated[Principal, Depends(require("invite-codes.list"))]
Verify = Annotated[Principal, Depends(require("invite-codes.verify"))]
Apply = Annotated[Principal, Depends(require("invite-codes.apply"))]
AdminList = Annotated[Principal, Depends(require("invite-codes.admin.list"))]
AdminCreate = Annotated[Principal, Depends(require("invite-codes.admin.create"))]
AdminRevoke = Annotated[Principal, Depends(require("invite-codes.admin.revoke"))]

RATE_LIMITED: dict[int | str, dict[str, Any]] = {429: {"description": "Rate limit exceeded (see Retry-After)"}}


def _own_user(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise BadRequest("Only a signed-in consumer can do this")
    return principal.user_id


async def _count_attempt(res: Res, principal: Principal, action: str) -> None:
    """3 per minute per user (INVITE_CODE_RATE_LIMIT); refused attempts count too."""
    await count_attempt(res, f"invite-{action}:{principal.id}", res.settings.invite_code_rate_limit, 60)


@router.post(
    "/invite_codes/generate",
    summary="Generate a new invite code",
    response_model=GeneratedCode,
    responses={
        404: {"description": "The caller is not a consumer"},
        422: {"description": "Three active codes already, or the account is not active"},
    },
    openapi_extra=features_doc("invite-codes.generate"),
)
async def generate(session: Session, principal: Generate) -> GeneratedCode:
    """For the signed-in, active consumer; at most 3 usable codes at once."""
    user_id = _own_user(principal)
    return GeneratedCode.of(await service.generate_for_consumer(session, principal.tenant_id, user_id))


@router.get(
    "/invite_codes/me",
    summary="List own invite codes",
    response_model=OwnCodes,
    openapi_extra=features_doc("invite-codes.list"),
)
async def my_codes(session: Session, principal: ListOwn) -> OwnCodes:
    user_id = _own_user(principal)
    codes = await service.own_codes(session, principal.tenant_id, user_id)
    return OwnCodes(items=[OwnCode.of(c) for c in codes])


@router.post(
    "/invite_codes/verify",
    summary="Verify an invite code",
    response_model=Verified,
    responses={422: {"description": "Invalid, expired, revoked or used code"}, **RATE_LIMITED},
    openapi_extra=features_doc("invite-codes.verify"),
)
async def verify(body: CodeBody, session: Session, res: Res, principal: Verify) -> Verified:
    """Whether the code can be applied, without using it. 3 requests per minute per user."""
    await _count_attempt(res, principal, "verify")
    return Verified(valid=True, type=await service.verify(session, principal.tenant_id, body.code))


@router.post(
    "/invite_codes/apply",
    summary="Apply an invite code to activate account",
    response_model=Activated,
    responses={
        404: {"description": "The caller is not a consumer"},
        422: {"description": "Already active, or invalid, expired, revoked or used code"},
        **RATE_LIMITED,
    },
    openapi_extra=features_doc("invite-codes.apply"),
)
async def apply(body: CodeBody, session: Session, res: Res, principal: Apply) -> Activated:
    """Uses the code and activates the caller's consumer account. 3 requests per minute per user."""
    await _count_attempt(res, principal, "apply")
    user_id = _own_user(principal)
    await service.apply(session, principal.tenant_id, user_id, body.code)
    return Activated(activated=True)


@router.get(
    "/invite_codes/admin",
    summary="List all invite codes (admin)",
    response_model=Page[AdminCode],
    openapi_extra=features_doc("invite-codes.admin.list"),
)
async def list_codes(
    session: Session,
    principal: AdminList,
    page: int = 1,
    pageSize: int = 50,
    sortField: str | None = None,
    sortDir: str | None = None,
    status: str | None = None,
    createdByUserId: str | None = None,
    search: str | None = None,
) -> Page[AdminCode]:
    """`status` available|used|expired|revoked; `search` matches the code and the creator's and
    redeemer's e-mails."""
    params = page_params(page, pageSize)
    total, codes = await service.list_codes(
        session,
        principal.tenant_id,
        params,
        status=status,
        created_by=parse_uuid(createdByUserId, "createdByUserId"),
        search=search,
        sort_field=sortField,
        sort_dir=sortDir,
    )
    return Page[AdminCode](
        items=[AdminCode.of(c) for c in codes], total=total, totalPages=-(-total // params.page_size)
    )


@router.post(
    "/invite_codes/admin/generate",
    summary="Generate invite code (admin)",
    response_model=GeneratedCode,
    responses={404: {"description": "Consumer not found"}},
    openapi_extra=features_doc("invite-codes.admin.create"),
)
async def admin_generate(body: AdminGenerateBody, session: Session, principal: AdminCreate) -> GeneratedCode:
    """Without the 3-code limit; optionally for a consumer, with an expiry and a number of uses."""
    row = await service.generate_by_admin(
        session,
        principal.tenant_id,
        principal.user_id,
        expires_at=body.expiresAt,
        max_uses=body.maxUses,
        consumer_id=parse_uuid(body.consumerId, "consumerId"),
    )
    return GeneratedCode.of(row)


@router.post(
    "/invite_codes/admin/revoke",
    summary="Revoke an invite code (admin)",
    response_model=Ok,
    responses={404: {"description": "Invite code not found"}, 422: {"description": "Code already used"}},
    openapi_extra=features_doc("invite-codes.admin.revoke"),
)
async def revoke(body: RevokeBody, session: Session, principal: AdminRevoke) -> Ok:
    await service.revoke(session, principal.tenant_id, required_id(body.id))
    return Ok(ok=True)
