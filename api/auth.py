"""Authentication & Accounts: login, sessions, profile, password reset, users, roles, ACLs,
feature catalog and checks, sidebar preferences and admin navigation."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentPrincipal, Res, Session, features_doc, require
from api.forms import read_fields
from api.schemas.auth import (
    AccessToken,
    Acl,
    AclSaved,
    AdminNav,
    Failure,
    Feature,
    FeatureCatalog,
    FeatureCheck,
    Locale,
    LocaleSet,
    LoginResult,
    Module,
    Profile,
    ProfileUpdated,
    ResetConfirmed,
    Role,
    SidebarPreferences,
    SidebarPreferencesSaved,
    User,
    UserAcl,
)
from api.schemas.common import Created, Ok, Page
from engine import modules
from engine.auth import accounts, navigation
from engine.auth import service as auth
from engine.auth.features import granted_features
from engine.auth.schemas import Principal
from engine.auth.scope import parse_uuid
from engine.errors import BadRequest, DomainError, NotFound, TooManyRequests
from engine.mail import service as mail
from engine.pagination import PageParams

router = APIRouter(tags=["Authentication & Accounts"])
log = logging.getLogger("covo.api")

ACCESS_COOKIE = "auth_token"
REFRESH_COOKIE = "session_token"


class Camel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def count_attempt(res: Res, key: str, limit: int | None = None, window: int | None = None) -> None:
    """Counts one attempt of `key` in its own transaction, so it holds even when the request then
    fails; past the limit (default: the auth limit) a 429 with Retry-After."""
    async with res.sessionmaker() as counting, counting.begin():
        await auth.hit_rate_limit(
            counting,
            key,
            res.settings.auth_rate_limit if limit is None else limit,
            res.settings.auth_rate_window_seconds if window is None else window,
        )


def _set_auth_cookies(response: Response, access: str, refresh: str | None, res: Res) -> None:
    secure = res.settings.environment == "production"
    response.set_cookie(
        ACCESS_COOKIE,
        access,
        max_age=res.settings.access_token_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    if refresh is not None:
        response.set_cookie(
            REFRESH_COOKIE,
            refresh,
            max_age=res.settings.refresh_token_ttl_seconds,
            httponly=True,
            samesite="lax",
            secure=secure,
        )


def _safe_redirect(target: str | None, default: str = "/") -> str:
    """Only same-site paths, so the redirect parameter can't send users elsewhere."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return default


def _ok_false(exc: DomainError) -> JSONResponse:
    body: dict[str, Any] = exc.body() if exc.status_code == 429 else {"ok": False, "error": exc.message}
    return JSONResponse(body, status_code=exc.status_code)


# ---------------------------------------------------------------- session


@router.post(
    "/auth/login",
    summary="Sign in",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {"email": {"type": "string"}, "password": {"type": "string"}},
                        "required": ["email", "password"],
                    }
                }
            }
        }
    },
    response_model=LoginResult,
    responses={
        400: {"description": "Missing fields", "model": Failure},
        401: {"description": "Invalid credentials", "model": Failure},
        403: {"description": "Account disabled", "model": Failure},
        429: {"description": "Too many attempts"},
    },
)
async def login(request: Request, response: Response, session: Session, res: Res) -> LoginResult | JSONResponse:
    """Form-encoded `email` and `password`. Returns a short-lived access token (`token`, also set as
    the `auth_token` cookie) and a refresh token (`refreshToken`, also the `session_token` cookie)."""
    try:
        fields = await read_fields(request)
        email = str(fields.get("email") or "")
        await auth.check_rate_limit(session, f"login:{client_ip(request)}:{email.lower()}", res.settings)
        await session.commit()  # the attempt counts even when the login fails
        tokens = await auth.login(session, email, str(fields.get("password") or ""), res.settings)
    except DomainError as exc:
        return _ok_false(exc)
    _set_auth_cookies(response, tokens.access_token, tokens.refresh_token, res)
    return LoginResult(
        ok=True,
        token=tokens.access_token,
        refreshToken=tokens.refresh_token,
        expiresIn=tokens.expires_in,
        redirect=None,
    )


class RefreshBody(Camel):
    refresh_token: str | None = Field(default=None, alias="refreshToken")


REFRESH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Missing refresh token", "model": Failure},
    401: {"description": "Invalid or expired refresh token", "model": Failure},
    429: {"description": "Too many attempts"},
}


@router.post(
    "/auth/session/refresh",
    summary="Exchange a refresh token for an access token",
    response_model=AccessToken,
    responses=REFRESH_ERRORS,
)
async def refresh_post(
    request: Request, response: Response, session: Session, res: Res, body: RefreshBody | None = None
) -> AccessToken | JSONResponse:
    try:
        await auth.check_rate_limit(session, f"refresh:{client_ip(request)}", res.settings)
        await session.commit()
        tokens = await auth.refresh(session, (body.refresh_token if body else None) or "", res.settings)
    except DomainError as exc:
        return _ok_false(exc)
    _set_auth_cookies(response, tokens.access_token, None, res)
    return AccessToken(ok=True, accessToken=tokens.access_token, expiresIn=tokens.expires_in)


@router.get(
    "/auth/session/refresh",
    summary="Refresh the access cookie from the session cookie",
    response_model=AccessToken,
    responses={302: {"description": "Redirect to `redirect`, with the fresh cookie"}, **REFRESH_ERRORS},
)
async def refresh_get(
    request: Request, response: Response, session: Session, res: Res, redirect: str | None = None
) -> AccessToken | Response:
    """Browser variant: reads the `session_token` cookie, sets a fresh `auth_token` cookie, then
    redirects (302) to `redirect` when given, else answers 200."""
    try:
        await auth.check_rate_limit(session, f"refresh:{client_ip(request)}", res.settings)
        await session.commit()
        tokens = await auth.refresh(session, request.cookies.get(REFRESH_COOKIE) or "", res.settings)
    except DomainError as exc:
        return _ok_false(exc)
    if redirect:
        # A returned response is sent as is: the injected `response` cookies would be lost.
        redirection = RedirectResponse(_safe_redirect(redirect), status_code=302)
        _set_auth_cookies(redirection, tokens.access_token, None, res)
        return redirection
    _set_auth_cookies(response, tokens.access_token, None, res)
    return AccessToken(ok=True, accessToken=tokens.access_token, expiresIn=tokens.expires_in)


def _clear_cookies(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE)
    response.delete_cookie(REFRESH_COOKIE)


@router.post("/auth/logout", status_code=201, summary="Sign out", response_model=Ok)
async def logout_post(principal: CurrentPrincipal, session: Session, response: Response) -> Ok:
    """Revokes the session: its refresh token and every access token issued for it stop working."""
    await auth.logout(session, principal)
    _clear_cookies(response)
    return Ok(ok=True)


@router.get(
    "/auth/logout",
    summary="Sign out and redirect",
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "Redirect to `redirect` (else `/`)"}},
)
async def logout_get(principal: CurrentPrincipal, session: Session, redirect: str | None = None) -> Response:
    await auth.logout(session, principal)
    response = RedirectResponse(_safe_redirect(redirect), status_code=302)
    _clear_cookies(response)
    return response


# ---------------------------------------------------------------- profile & password


@router.get(
    "/auth/profile",
    summary="The signed-in user's profile",
    response_model=Profile,
    responses={404: {"description": "Not a user (API key)"}},
)
async def get_profile(principal: CurrentPrincipal, session: Session) -> Profile:
    if principal.user_id is None:
        raise NotFound("User not found")
    user = await accounts.get_user(session, principal, principal.user_id)
    return Profile(
        id=str(user.id),
        email=user.email,
        name=user.name,
        roles=list(principal.role_names),
        tenantId=str(user.tenant_id),
        organizationId=str(user.organization_id) if user.organization_id else None,
    )


class ProfileBody(Camel):
    email: str | None = None
    name: str | None = None
    password: str | None = None
    current_password: str | None = Field(default=None, alias="currentPassword")


@router.put("/auth/profile", summary="Update the signed-in user's profile", response_model=ProfileUpdated)
async def put_profile(principal: CurrentPrincipal, session: Session, body: ProfileBody) -> ProfileUpdated:
    """Changing the password or the e-mail requires `currentPassword`."""
    user = await auth.update_profile(
        session,
        principal,
        email=body.email,
        name=body.name,
        password=body.password,
        current_password=body.current_password,
    )
    return ProfileUpdated(ok=True, email=user.email)


@router.post(
    "/auth/reset",
    summary="Request a password reset e-mail",
    response_model=Ok,
    responses={429: {"description": "Too many attempts"}},
)
async def reset(request: Request, session: Session, res: Res) -> Ok | JSONResponse:
    """Always answers `{"ok": true}`, whether or not the address has an account."""
    fields = await read_fields(request)
    email = str(fields.get("email") or "").strip()
    try:
        await auth.check_rate_limit(session, f"reset:{client_ip(request)}", res.settings)
        await session.commit()
    except TooManyRequests as exc:
        return JSONResponse(exc.body(), status_code=429)
    if not email:
        raise BadRequest("Email is required")
    outbox_id = await auth.request_password_reset(session, email, res.settings)
    await session.commit()
    if outbox_id is not None:
        try:
            await mail.dispatch(await res.temporal_client(), outbox_id, res.settings.temporal_task_queue)
        except Exception:
            # Answer exactly as for an unknown address (no account probing); the row stays PENDING.
            log.exception("could not dispatch password reset mail %s", outbox_id)
    return Ok(ok=True)


@router.post(
    "/auth/reset/confirm",
    summary="Set a new password with a reset token",
    response_model=ResetConfirmed,
    responses={
        400: {"description": "Invalid or expired token, or a weak password", "model": Failure},
        429: {"description": "Too many attempts"},
    },
)
async def reset_confirm(request: Request, session: Session, res: Res) -> ResetConfirmed | JSONResponse:
    """Tokens are single-use and expire; using one signs the user out everywhere."""
    try:
        fields = await read_fields(request)
        await auth.check_rate_limit(session, f"reset:{client_ip(request)}", res.settings)
        await session.commit()
        await auth.confirm_password_reset(session, str(fields.get("token") or ""), str(fields.get("password") or ""))
    except DomainError as exc:
        return _ok_false(exc)
    return ResetConfirmed(ok=True, redirect="/login")


@router.get("/auth/locale", summary="Current UI locale", response_model=Locale)
async def get_locale(request: Request) -> Locale:
    return Locale(locale=request.cookies.get("locale", "en"))


class LocaleBody(Camel):
    locale: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")


@router.post("/auth/locale", status_code=201, summary="Set the UI locale", response_model=LocaleSet)
async def set_locale(response: Response, body: LocaleBody | None = None) -> LocaleSet:
    locale = body.locale if body else "en"
    response.set_cookie("locale", locale, max_age=365 * 24 * 3600, samesite="lax")
    return LocaleSet(ok=True, locale=locale)


# ---------------------------------------------------------------- features


@router.get(
    "/auth/features",
    summary="List declared features",
    response_model=FeatureCatalog,
    openapi_extra=features_doc("auth.acl.manage"),
)
async def list_features(_: Annotated[Principal, Depends(require("auth.acl.manage"))]) -> FeatureCatalog:
    """Every feature the modules declare, with the module it comes from."""
    return FeatureCatalog(
        items=[Feature(id=f.id, title=f.title, module=m.id) for m, f in modules.all_features()],
        modules=[Module(id=m.id, title=m.title) for m in modules.MODULES],
    )


class FeatureCheckBody(Camel):
    features: list[str] = Field(default_factory=list)


@router.post("/auth/feature-check", summary="Check feature grants for the caller", response_model=FeatureCheck)
async def feature_check(principal: CurrentPrincipal, body: FeatureCheckBody) -> FeatureCheck:
    granted = granted_features(principal.features, body.features, super_admin=principal.is_super_admin)
    return FeatureCheck(ok=len(granted) == len(body.features), granted=granted, userId=str(principal.id))


# ---------------------------------------------------------------- navigation


@router.get("/auth/admin/nav", summary="Resolve sidebar entries", response_model=AdminNav)
async def admin_nav(principal: CurrentPrincipal, session: Session) -> dict[str, Any]:
    return await navigation.admin_nav(session, principal)


@router.get("/auth/sidebar/preferences", summary="Sidebar preferences", response_model=SidebarPreferences)
async def get_sidebar(principal: CurrentPrincipal, session: Session) -> dict[str, Any]:
    return await navigation.get_preferences(session, principal)


class SidebarBody(Camel):
    locale: str | None = None
    settings: dict[str, Any] | None = None
    apply_to_roles: list[uuid.UUID] = Field(default_factory=list, alias="applyToRoles")
    clear_role_ids: list[uuid.UUID] = Field(default_factory=list, alias="clearRoleIds")


@router.put(
    "/auth/sidebar/preferences",
    summary="Save sidebar preferences",
    response_model=SidebarPreferencesSaved,
    responses={403: {"description": "applyToRoles without auth.roles.manage"}},
)
async def put_sidebar(principal: CurrentPrincipal, session: Session, body: SidebarBody) -> dict[str, Any]:
    """Saves the caller's own preferences; `applyToRoles` also stores them for roles (needs
    `auth.roles.manage`) and `clearRoleIds` removes roles' preferences."""
    return await navigation.put_preferences(
        session,
        principal,
        locale=body.locale,
        settings=body.settings,
        apply_to_roles=body.apply_to_roles,
        clear_roles=body.clear_role_ids,
    )


# ---------------------------------------------------------------- roles


def _page(page: int, page_size: int) -> PageParams:
    return PageParams(page=page, page_size=page_size)


def _required_id(value: str | None, field: str = "id") -> uuid.UUID:
    parsed = parse_uuid(value, field)
    if parsed is None:
        raise BadRequest(f"{field} is required")
    return parsed


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
        _page(page, page_size),
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
    await accounts.delete_role(session, principal, _required_id(id))
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
    return await accounts.get_role_acl(session, principal, _required_id(role_id, "roleId"))


class AclBody(Camel):
    features: list[str] | None = None
    is_super_admin: bool | None = Field(default=None, alias="isSuperAdmin")
    organizations: list[str] | None = None


class RoleAclBody(AclBody):
    role_id: uuid.UUID = Field(alias="roleId")


class UserAclBody(AclBody):
    user_id: uuid.UUID = Field(alias="userId")
    has_custom_acl: bool | None = Field(default=None, alias="hasCustomAcl")


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
        _page(page, page_size),
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
    await accounts.delete_user(session, principal, _required_id(id))
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
    return await accounts.get_user_acl(session, principal, _required_id(user_id, "userId"))


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
