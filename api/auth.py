"""Authentication: login, session refresh, logout, password reset, the signed-in user's profile
and UI locale."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import ValidationError

from api.deps import CurrentPrincipal, Res, Session
from api.forms import read_fields
from api.schemas.auth import (
    AccessToken,
    Failure,
    Locale,
    LocaleBody,
    LocaleSet,
    LoginResult,
    Profile,
    ProfileBody,
    ProfileUpdated,
    RefreshBody,
    ResetConfirmed,
)
from api.schemas.common import Ok
from engine.auth import accounts
from engine.auth import service as auth
from engine.db.session import after_commit
from engine.errors import BadRequest, DomainError, NotFound, TooManyRequests
from engine.mail import service as mail

router = APIRouter(tags=["Authentication & Accounts"])


log = logging.getLogger("covo.api")

ACCESS_COOKIE = "auth_token"
REFRESH_COOKIE = "session_token"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def count_attempt(res: Res, key: str, limit: int | None = None, window: int | None = None) -> None:
    """Counts one attempt of `key` in its own transaction, so it holds even when the request then
    fails; past the limit (default: the auth limit) a 429 with Retry-After."""
    await auth.hit_rate_limit(
        res.sessionmaker,
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
        await auth.check_rate_limit(res.sessionmaker, f"login:{client_ip(request)}:{email.lower()}", res.settings)
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
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": RefreshBody.model_json_schema(by_alias=True)}}}
    },
)
async def refresh_post(request: Request, response: Response, session: Session, res: Res) -> AccessToken | JSONResponse:
    """Every refusal, a malformed body included, answers `{"ok": false, "error"}`."""
    try:
        try:
            body = RefreshBody.model_validate(await read_fields(request))
        except ValidationError as exc:
            raise BadRequest(f"Invalid request: {exc.errors()[0]['msg']}")
        await auth.check_rate_limit(res.sessionmaker, f"refresh:{client_ip(request)}", res.settings)
        tokens = await auth.refresh(session, body.refresh_token or "", res.settings)
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
        await auth.check_rate_limit(res.sessionmaker, f"refresh:{client_ip(request)}", res.settings)
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
        await auth.check_rate_limit(res.sessionmaker, f"reset:{client_ip(request)}", res.settings)
    except TooManyRequests as exc:
        return JSONResponse(exc.body(), status_code=429)
    if not email:
        raise BadRequest("Email is required")
    outbox_id = await auth.request_password_reset(session, email, res.settings)
    if outbox_id is not None:
        # Handed to Temporal after the commit; a failure is logged and the row stays PENDING for
        # the sweeper. The answer is the same as for an unknown address (no account probing).
        queue = res.settings.temporal_task_queue
        after_commit(session, lambda: _dispatch_mail(res, outbox_id, queue))
    return Ok(ok=True)


async def _dispatch_mail(res: Res, outbox_id: uuid.UUID, task_queue: str) -> None:
    await mail.dispatch(await res.temporal_client(), outbox_id, task_queue)


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
        await auth.check_rate_limit(res.sessionmaker, f"reset:{client_ip(request)}", res.settings)
        await auth.confirm_password_reset(session, str(fields.get("token") or ""), str(fields.get("password") or ""))
    except DomainError as exc:
        return _ok_false(exc)
    return ResetConfirmed(ok=True, redirect="/login")


@router.get("/auth/locale", summary="Current UI locale", response_model=Locale)
async def get_locale(request: Request) -> Locale:
    return Locale(locale=request.cookies.get("locale", "en"))


@router.post("/auth/locale", status_code=201, summary="Set the UI locale", response_model=LocaleSet)
async def set_locale(response: Response, body: LocaleBody | None = None) -> LocaleSet:
    locale = body.locale if body else "en"
    response.set_cookie("locale", locale, max_age=365 * 24 * 3600, samesite="lax")
    return LocaleSet(ok=True, locale=locale)
