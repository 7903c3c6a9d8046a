"""Sign-in, sessions, password changes and resets, and resolving who a request comes from."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Row, Select, bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.auth import repository
from engine.auth.schemas import Principal
from engine.auth.security import (
    DUMMY_PASSWORD_HASH,
    MIN_PASSWORD_LENGTH,
    decode_access_token,
    hash_password,
    issue_access_token,
    new_secret,
    sha256,
    verify_password,
)
from engine.clock import now
from engine.db.models import (
    AuthSession,
    PasswordReset,
    RateLimitBucket,
    Role,
    RoleAcl,
    Tenant,
    User,
    UserAcl,
    UserRole,
)
from engine.db.session import unit_of_work
from engine.errors import BadRequest, Forbidden, TooManyRequests, Unauthorized
from engine.mail import service as mail
from engine.settings import Settings

API_KEY_PREFIX = "covo_"


@dataclass(frozen=True)
class Acl:
    features: tuple[str, ...]
    is_super_admin: bool
    organizations: tuple[str, ...] | None


class Grants(Protocol):
    """A role's grants: a RoleAcl row, or the same columns of a joined query."""

    @property
    def features(self) -> list[Any]: ...
    @property
    def is_super_admin(self) -> bool: ...
    @property
    def organizations(self) -> list[Any] | None: ...


def merge_role_acls(acls: Sequence[Grants]) -> Acl:
    features: list[str] = []
    organizations: set[str] | None = set()
    for acl in acls:
        features.extend(f for f in acl.features if f not in features)
        if acl.organizations is None:
            organizations = None
        elif organizations is not None:
            organizations.update(str(o) for o in acl.organizations)
    return Acl(
        features=tuple(features),
        is_super_admin=any(acl.is_super_admin for acl in acls),
        organizations=None if organizations is None or not acls else tuple(sorted(organizations)),
    )


async def roles_acl(session: AsyncSession, role_ids: list[uuid.UUID]) -> Acl:
    if not role_ids:
        return Acl((), False, ())
    return merge_role_acls(await repository.role_acls(session, role_ids))


async def effective_acl(session: AsyncSession, user_id: uuid.UUID, role_ids: list[uuid.UUID]) -> Acl:
    """A user's own ACL, when set, replaces what the roles grant (reference semantics)."""
    custom = await session.get(UserAcl, user_id)
    if custom is not None:
        organizations = None if custom.organizations is None else tuple(str(o) for o in custom.organizations)
        return Acl(tuple(custom.features), custom.is_super_admin, organizations)
    return await roles_acl(session, role_ids)


def _principal_rows(*conditions: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    """The user with each role, that role's grants and the user's own ACL: one round trip of
    plain columns (this runs on every authenticated request; ORM entities cost several times more)."""
    return (
        select(
            User.id,
            User.tenant_id,
            User.organization_id,
            User.email,
            Role.id.label("role_id"),
            Role.name.label("role_name"),
            RoleAcl.features,
            RoleAcl.is_super_admin,
            RoleAcl.organizations,
            UserAcl.user_id.label("own_acl"),
            UserAcl.features.label("own_features"),
            UserAcl.is_super_admin.label("own_super_admin"),
            UserAcl.organizations.label("own_organizations"),
        )
        .select_from(User)
        .outerjoin(UserRole, UserRole.user_id == User.id)
        .outerjoin(Role, Role.id == UserRole.role_id)
        .outerjoin(RoleAcl, RoleAcl.role_id == Role.id)
        .outerjoin(UserAcl, UserAcl.user_id == User.id)
        .where(*conditions)
        .order_by(Role.name)
    )


def _principal(rows: Sequence[Row[Any]], session_id: uuid.UUID | None) -> Principal | None:
    if not rows:
        return None
    first = rows[0]
    roles = [row for row in rows if row.role_id is not None]
    if first.own_acl is not None:
        # The user's own ACL (rare) replaces what the roles grant.
        organizations = None if first.own_organizations is None else tuple(str(o) for o in first.own_organizations)
        acl = Acl(tuple(first.own_features), first.own_super_admin, organizations)
    else:
        granted = [row for row in roles if row.features is not None]
        acl = merge_role_acls(granted) if roles else Acl((), False, ())
    return Principal(
        kind="user",
        id=first.id,
        tenant_id=first.tenant_id,
        organization_id=first.organization_id,
        features=acl.features,
        is_super_admin=acl.is_super_admin,
        role_ids=tuple(row.role_id for row in roles),
        role_names=tuple(row.role_name for row in roles),
        email=first.email,
        session_id=session_id,
        organizations=acl.organizations,
    )


# Built once: constructing these statements costs more than running them. Values are bound per call.
_PRINCIPAL_OF_USER = _principal_rows(User.id == bindparam("user"))
_PRINCIPAL_OF_SESSION = (
    _principal_rows(
        AuthSession.id == bindparam("session"),
        AuthSession.revoked_at.is_(None),
        User.id == bindparam("user"),
        User.is_active.is_(True),
        User.deleted_at.is_(None),
        Tenant.is_active.is_(True),
        Tenant.deleted_at.is_(None),
    )
    .join(AuthSession, AuthSession.user_id == User.id)
    .join(Tenant, Tenant.id == User.tenant_id)
)


async def principal_for_user(session: AsyncSession, user: User, session_id: uuid.UUID | None) -> Principal:
    principal = _principal((await session.execute(_PRINCIPAL_OF_USER, {"user": user.id})).all(), session_id)
    assert principal is not None  # the user row exists
    return principal


async def principals_of_users(session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, Principal]:
    """What each of these users may do (as on their next request), in one query."""
    if not user_ids:
        return {}
    rows: dict[uuid.UUID, list[Row[Any]]] = {}
    for row in (await session.execute(_principal_rows(User.id.in_(user_ids)))).all():
        rows.setdefault(row.id, []).append(row)
    found = {user_id: _principal(user_rows, None) for user_id, user_rows in rows.items()}
    return {user_id: p for user_id, p in found.items() if p is not None}


async def principal_from_access_token(session: AsyncSession, token: str, settings: Settings) -> Principal | None:
    claims = decode_access_token(token, settings.jwt_secret)
    if claims is None:
        return None
    session_id = uuid.UUID(claims["sid"])
    # Session not revoked, user active, tenant active, and what the user may do: one query.
    values = {"session": session_id, "user": uuid.UUID(claims["sub"])}
    return _principal((await session.execute(_PRINCIPAL_OF_SESSION, values)).all(), session_id)


async def principal_from_api_key(session: AsyncSession, secret: str) -> Principal | None:
    key = await repository.api_key_by_hash(session, sha256(secret))
    if key is None or key.deleted_at is not None:
        return None
    if key.expires_at is not None and key.expires_at <= now():
        return None
    if await repository.live_tenant(session, key.tenant_id) is None:
        return None
    role_ids = [uuid.UUID(str(r)) for r in key.role_ids]
    acl = await roles_acl(session, role_ids)
    roles = await repository.roles_by_id(session, role_ids)
    key.last_used_at = now()
    return Principal(
        kind="api_key",
        id=key.id,
        tenant_id=key.tenant_id,
        organization_id=key.organization_id,
        features=acl.features,
        is_super_admin=acl.is_super_admin,
        role_ids=tuple(role_ids),
        role_names=tuple(r.name for r in roles),
        organizations=acl.organizations,
    )


async def check_rate_limit(sessionmaker: async_sessionmaker[AsyncSession], key: str, settings: Settings) -> None:
    """Counts one hit in the current fixed window; raises 429 past the limit. The hit is its own
    unit of work (committed at once), so it counts even when the request itself later fails."""
    await hit_rate_limit(sessionmaker, key, settings.auth_rate_limit, settings.auth_rate_window_seconds)


async def hit_rate_limit(sessionmaker: async_sessionmaker[AsyncSession], key: str, limit: int, window: int) -> None:
    """Counts one hit of `key` in the current fixed window of `window` seconds (its own unit of
    work); past `limit` hits raises 429 whose `retryAfter` is the seconds until the window ends."""
    start = datetime.fromtimestamp(int(now().timestamp()) // window * window, UTC)
    statement = (
        insert(RateLimitBucket)
        .values(key=key, window_start=start, count=1)
        .on_conflict_do_update(
            index_elements=[RateLimitBucket.key, RateLimitBucket.window_start],
            set_={"count": RateLimitBucket.count + 1},
        )
        .returning(RateLimitBucket.count)
    )
    async with unit_of_work(sessionmaker) as session:
        hits = int((await session.execute(statement)).scalar_one())
    if hits > limit:
        retry_after = max(1, math.ceil(start.timestamp() + window - now().timestamp()))
        raise TooManyRequests("Too many requests, try again later", extra={"retryAfter": retry_after})


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await repository.user_by_email(session, email)


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    user_id: uuid.UUID


async def login(session: AsyncSession, email: str, password: str, settings: Settings) -> Tokens:
    if not email or not password:
        raise BadRequest("Email and password are required")
    user = await find_user_by_email(session, email)
    # One Argon2 verification whatever the case (unknown e-mail, no password set, wrong password),
    # and the same answer: neither the body nor the time tells which addresses have accounts.
    hashed = user.password_hash if user is not None and user.password_hash else None
    matches = verify_password(hashed or DUMMY_PASSWORD_HASH, password) and hashed is not None
    if user is None or not matches:
        raise Unauthorized("Invalid email or password")
    if not user.is_active or await repository.live_tenant(session, user.tenant_id) is None:
        raise Forbidden("Account is disabled")
    user.last_login_at = now()
    return await _open_session(session, user, settings)


async def open_session(session: AsyncSession, user: User, settings: Settings) -> Tokens:
    """Signs `user` in: a new session row and its access and refresh tokens."""
    return await _open_session(session, user, settings)


async def _open_session(session: AsyncSession, user: User, settings: Settings) -> Tokens:
    refresh_token = new_secret("rt_")
    auth_session = AuthSession(
        id=uuid.uuid4(),
        user_id=user.id,
        refresh_token_hash=sha256(refresh_token),
        expires_at=now() + timedelta(seconds=settings.refresh_token_ttl_seconds),
    )
    session.add(auth_session)
    await session.flush()
    return Tokens(
        access_token=_access_token(user, auth_session.id, settings),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl_seconds,
        user_id=user.id,
    )


def _access_token(user: User, session_id: uuid.UUID, settings: Settings) -> str:
    return issue_access_token(
        secret=settings.jwt_secret,
        user_id=user.id,
        session_id=session_id,
        tenant_id=user.tenant_id,
        ttl_seconds=settings.access_token_ttl_seconds,
    )


async def refresh(session: AsyncSession, refresh_token: str, settings: Settings) -> Tokens:
    if not refresh_token:
        raise BadRequest("refreshToken is required")
    auth_session = await repository.session_by_refresh_hash(session, sha256(refresh_token))
    if auth_session is None or auth_session.revoked_at is not None or auth_session.expires_at <= now():
        raise Unauthorized("Invalid or expired refresh token")
    user = await session.get(User, auth_session.user_id)
    if user is None or not user.is_active or user.deleted_at is not None:
        raise Unauthorized("Invalid or expired refresh token")
    return Tokens(
        access_token=_access_token(user, auth_session.id, settings),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl_seconds,
        user_id=user.id,
    )


async def logout(session: AsyncSession, principal: Principal) -> None:
    if principal.session_id is not None:
        await repository.revoke_session(session, principal.session_id)


async def revoke_all_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    await repository.revoke_user_sessions(session, user_id)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"Password must be at least {MIN_PASSWORD_LENGTH} characters")


async def update_profile(
    session: AsyncSession,
    principal: Principal,
    *,
    email: str | None,
    name: str | None,
    password: str | None,
    current_password: str | None,
) -> User:
    user = await session.get(User, principal.user_id) if principal.user_id else None
    if user is None:
        raise BadRequest("Only a signed-in user has a profile")
    changes_credentials = password is not None or (email is not None and email.lower() != user.email.lower())
    if changes_credentials and not verify_password(user.password_hash, current_password or ""):
        raise BadRequest("Current password is incorrect")
    if email is not None and email.lower() != user.email.lower():
        email = email.strip()
        if "@" not in email:
            raise BadRequest("A valid email is required")
        if await find_user_by_email(session, email) is not None:
            raise BadRequest("Email is already in use")
        user.email = email
    if name is not None:
        user.name = name
    if password is not None:
        check_password_strength(password)
        user.password_hash = hash_password(password)
    await session.flush()
    return user


async def request_password_reset(session: AsyncSession, email: str, settings: Settings) -> uuid.UUID | None:
    """Creates a single-use reset token and queues the mail. Returns the outbox id to dispatch, or
    None when the address is unknown (the caller answers the same either way)."""
    user = await find_user_by_email(session, email)
    if user is None or not user.is_active:
        return None
    token = new_secret()
    session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=sha256(token),
            expires_at=now() + timedelta(seconds=settings.password_reset_ttl_seconds),
        )
    )
    link = f"{settings.public_url}/reset/{token}"
    row = await mail.enqueue(
        session,
        recipient=user.email,
        subject="Reset your Covo password",
        body=f"Use this link within {settings.password_reset_ttl_seconds // 60} minutes: {link}\n"
        f"Or send this token to POST /api/auth/reset/confirm: {token}\n",
        tenant_id=user.tenant_id,
    )
    return row.id


async def confirm_password_reset(session: AsyncSession, token: str, password: str) -> None:
    if not token or not password:
        raise BadRequest("Token and password are required")
    reset = await repository.password_reset_for_update(session, sha256(token))
    if reset is None or reset.used_at is not None or reset.expires_at <= now():
        raise BadRequest("Invalid or expired token")
    check_password_strength(password)
    user = await session.get(User, reset.user_id)
    if user is None or user.deleted_at is not None:
        raise BadRequest("Invalid or expired token")
    reset.used_at = now()
    user.password_hash = hash_password(password)
    # A reset means the old password may be known to someone else: end every open session.
    await revoke_all_sessions(session, user.id)
