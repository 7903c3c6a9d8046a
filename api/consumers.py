"""Consumers: admin CRUD, the consumer's own profile, and sign-up (`/better_auth/...`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.auth import _page, _required_id, client_ip, count_attempt
from api.deps import CurrentPrincipal, Res, Session, features_doc, require
from api.schemas.common import Created, Ok, Page
from api.schemas.consumers import (
    Consumer,
    ConsumerCreateBody,
    ConsumerUpdateBody,
    ProfilePatchBody,
    SignedUp,
    SignupBody,
    SocialBody,
    SocialSignedIn,
)
from engine.auth.schemas import Principal
from engine.auth.scope import parse_uuid
from engine.consumers import service
from engine.consumers.social import JwksCache, verify_id_token
from engine.errors import BadRequest

router = APIRouter(tags=["Consumers"])

AdminList = Annotated[Principal, Depends(require("consumers.admin.list"))]
AdminCreate = Annotated[Principal, Depends(require("consumers.admin.create"))]
AdminUpdate = Annotated[Principal, Depends(require("consumers.admin.update"))]
AdminDelete = Annotated[Principal, Depends(require("consumers.admin.delete"))]


async def _own(session: Session, principal: Principal) -> service.Consumer:
    if principal.user_id is None:
        raise BadRequest("Only a signed-in consumer has a profile")
    row = await service.consumer_of_user(session, principal.tenant_id, principal.user_id)
    return await service.with_email(session, row)


@router.get(
    "/consumers/admin",
    summary="List consumers",
    response_model=Page[Consumer],
    openapi_extra=features_doc("consumers.admin.list"),
)
async def list_consumers(
    session: Session,
    principal: AdminList,
    page: int = 1,
    pageSize: int = 50,
    sortField: str | None = None,
    sortDir: str | None = None,
    search: str | None = None,
    id: str | None = None,
    userId: str | None = None,
) -> Page[Consumer]:
    """Consumers of the caller's tenant, newest first; `search` matches e-mail, names and phone;
    `id` or `userId` narrow the list to one consumer."""
    params = _page(page, pageSize)
    total, rows = await service.list_consumers(
        session,
        principal.tenant_id,
        params,
        search=search,
        consumer_id=parse_uuid(id, "id"),
        user_id=parse_uuid(userId, "userId"),
        sort_field=sortField,
        sort_dir=sortDir,
    )
    return Page[Consumer](items=[Consumer.of(c) for c in rows], total=total, totalPages=-(-total // params.page_size))


@router.post(
    "/consumers/admin",
    status_code=201,
    summary="Create consumer",
    response_model=Created,
    openapi_extra=features_doc("consumers.admin.create"),
)
async def create_consumer(body: ConsumerCreateBody, session: Session, principal: AdminCreate) -> Created:
    """Creates the login (role `consumer`), the profile and both wallets. The consumer starts active."""
    consumer = await service.create_consumer(
        session,
        tenant_id=principal.tenant_id,
        email=body.email,
        password=body.password,
        profile=body.profile(),
        active=True,
    )
    return Created(id=str(consumer.row.id))


@router.put(
    "/consumers/admin",
    summary="Update consumer",
    response_model=Ok,
    responses={404: {"description": "Consumer not found"}},
    openapi_extra=features_doc("consumers.admin.update"),
)
async def update_consumer(body: ConsumerUpdateBody, session: Session, principal: AdminUpdate) -> Ok:
    row = await service.consumer_by_id(session, principal.tenant_id, _required_id(body.id))
    await service.update_profile(session, row, body.profile())
    return Ok(ok=True)


@router.delete(
    "/consumers/admin",
    summary="Delete consumer",
    response_model=Ok,
    responses={404: {"description": "Consumer not found"}},
    openapi_extra=features_doc("consumers.admin.delete"),
)
async def delete_consumer(session: Session, principal: AdminDelete, id: str | None = Query(default=None)) -> Ok:
    """Soft delete: the profile and its login go; wallets and their history stay."""
    await service.delete_consumer(session, principal.tenant_id, _required_id(id))
    return Ok(ok=True)


@router.get(
    "/consumers/me",
    summary="Get current consumer profile",
    response_model=Consumer,
    responses={404: {"description": "User not found"}},
)
async def me(session: Session, principal: CurrentPrincipal) -> Consumer:
    return Consumer.of(await _own(session, principal))


@router.patch(
    "/consumers/me",
    summary="Update consumer profile",
    response_model=Consumer,
    responses={404: {"description": "User not found"}},
)
async def update_me(body: ProfilePatchBody, session: Session, principal: CurrentPrincipal) -> Consumer:
    """Every field is optional; a field sent as null is cleared. `email` and `active` cannot be
    changed here (400)."""
    consumer = await _own(session, principal)
    await service.update_profile(session, consumer.row, body.profile())
    return Consumer.of(consumer)


# ---------------------------------------------------------------- sign-up

signup_router = APIRouter(tags=["Authentication"])


@signup_router.post(
    "/better_auth/signup",
    summary="Sign up with email and password",
    response_model=SignedUp,
    responses={409: {"description": "Email already registered"}, 429: {"description": "Too many attempts"}},
)
async def signup(body: SignupBody, request: Request, session: Session, res: Res) -> SignedUp:
    """Creates a consumer (role `consumer`) with its standard and bonus wallets and signs it in.
    The consumer starts inactive when the deployment requires invite codes
    (`INVITE_CODES_REQUIRED`). The tenant is `SIGNUP_TENANT_ID`, else the `X-Tenant-Id` header,
    else the oldest tenant. Rate-limited like login."""
    await count_attempt(res, f"signup:{client_ip(request)}")
    tenant_id = await service.signup_tenant(session, request.headers.get("x-tenant-id"), res.settings)
    tokens, consumer = await service.signup(
        session, tenant_id=tenant_id, email=body.email, password=body.password, settings=res.settings
    )
    return SignedUp(token=tokens.access_token, refreshToken=tokens.refresh_token, user=Consumer.of(consumer))


@signup_router.post(
    "/better_auth/social",
    summary="Sign in or sign up with a social provider",
    response_model=SocialSignedIn,
    responses={
        401: {"description": "Invalid or expired token"},
        409: {"description": "The e-mail belongs to another account"},
        429: {"description": "Too many attempts"},
        503: {"description": "The provider's keys could not be fetched"},
    },
)
async def social(body: SocialBody, request: Request, session: Session, res: Res) -> SocialSignedIn:
    """`provider` google or apple (when configured: GOOGLE_CLIENT_IDS, APPLE_CLIENT_IDS), `token`
    the provider's ID token, verified against the provider's JWKS (signature, issuer, audience,
    expiry). Signs in the consumer of that provider account, or creates one (`isNewUser`)."""
    await count_attempt(res, f"social:{client_ip(request)}")
    identity = await verify_id_token(res.settings, _jwks(request), body.provider, body.token)
    tenant_id = await service.signup_tenant(session, request.headers.get("x-tenant-id"), res.settings)
    tokens, consumer, is_new = await service.social_sign_in(
        session, tenant_id=tenant_id, identity=identity, settings=res.settings
    )
    return SocialSignedIn(
        token=tokens.access_token, refreshToken=tokens.refresh_token, user=Consumer.of(consumer), isNewUser=is_new
    )


def _jwks(request: Request) -> JwksCache:
    """One key cache per app, so providers' keys are fetched once an hour, not per sign-in."""
    cache: JwksCache | None = getattr(request.app.state, "jwks_cache", None)
    if cache is None:
        cache = request.app.state.jwks_cache = JwksCache()
    return cache
