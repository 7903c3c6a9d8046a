"""API keys: `Authorization: apikey <secret>` acts with the key's roles in its tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.common import page_params, required_id
from api.deps import Session, features_doc, require
from api.schemas.api_keys import ApiKey, CreatedApiKey, KeyCreate, RoleRef
from api.schemas.common import PositionedPage, Success
from engine.auth import api_keys
from engine.auth.schemas import Principal
from engine.clock import iso_or_none

router = APIRouter(tags=["API Keys"])


@router.get(
    "/api_keys/keys",
    summary="List API keys",
    response_model=PositionedPage[ApiKey],
    openapi_extra=features_doc("api_keys.view"),
)
async def list_keys(
    principal: Annotated[Principal, Depends(require("api_keys.view"))],
    session: Session,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
    search: str | None = None,
) -> PositionedPage[ApiKey]:
    params = page_params(page, page_size)
    entries, total = await api_keys.list_keys(session, principal, params, search)
    return PositionedPage[ApiKey].of([ApiKey.of(e) for e in entries], total, params)


@router.post(
    "/api_keys/keys",
    status_code=201,
    summary="Create an API key",
    response_model=CreatedApiKey,
    openapi_extra=features_doc("api_keys.create"),
)
async def create_key(
    principal: Annotated[Principal, Depends(require("api_keys.create"))], session: Session, body: KeyCreate
) -> CreatedApiKey:
    """The response carries `secret`, shown this one time only; only its hash is stored."""
    key, secret = await api_keys.create_key(
        session,
        principal,
        name=body.name,
        description=body.description,
        tenant_id=body.tenant_id,
        organization_id=body.organization_id,
        roles=body.roles,
        expires_at=body.expires_at,
    )
    return CreatedApiKey(
        id=str(key.id),
        name=key.name,
        keyPrefix=key.key_prefix,
        tenantId=str(key.tenant_id),
        organizationId=str(key.organization_id) if key.organization_id else None,
        roles=[RoleRef.of(r) for r in await api_keys.role_refs(session, key.role_ids)],
        expiresAt=iso_or_none(key.expires_at),
        secret=secret,
    )


@router.delete(
    "/api_keys/keys",
    summary="Revoke an API key",
    response_model=Success,
    openapi_extra=features_doc("api_keys.delete"),
)
async def delete_key(
    principal: Annotated[Principal, Depends(require("api_keys.delete"))], session: Session, id: str | None = None
) -> Success:
    await api_keys.delete_key(session, principal, required_id(id))
    return Success(success=True)
