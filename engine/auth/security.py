"""Passwords (Argon2), opaque secrets (stored as SHA-256, shown once) and JWT access tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
JWT_ALGORITHM = "HS256"
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A real hash to verify against when the e-mail is unknown, so login timing doesn't reveal accounts.
DUMMY_PASSWORD_HASH = hash_password(secrets.token_urlsafe(16))


def new_secret(prefix: str = "", nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issue_access_token(
    *, secret: str, user_id: uuid.UUID, session_id: uuid.UUID, tenant_id: uuid.UUID, ttl_seconds: int
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "tid": str(tenant_id),
        "iat": now,
        "exp": now + timedelta(seconds=ttl_seconds),
        "typ": "access",
        "jti": uuid.uuid4().hex,  # every token distinct, even two issued in the same second
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, secret: str) -> dict[str, Any] | None:
    try:
        # Pinned: only HS256 is accepted (never `none`, never an algorithm the token names itself).
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "iat", "sub", "sid"]}
        )
        uuid.UUID(str(claims["sub"]))
        uuid.UUID(str(claims["sid"]))
    except (jwt.PyJWTError, ValueError):
        return None
    return claims if claims.get("typ") == "access" else None
