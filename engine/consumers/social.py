"""Social sign-in: the provider's ID token is verified against the provider's JWKS (signature,
issuer, audience, expiry) with PyJWT. Providers are configured in settings: a provider without
client ids is not offered."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from engine.errors import BadRequest, ServiceUnavailable, Unauthorized
from engine.settings import Settings

ALGORITHMS = ["RS256", "ES256"]
JWKS_TTL_SECONDS = 3600


@dataclass(frozen=True)
class Provider:
    name: str
    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    jwks_url: str


@dataclass(frozen=True)
class SocialIdentity:
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    first_name: str | None
    last_name: str | None


def providers(settings: Settings) -> dict[str, Provider]:
    def ids(value: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in value.split(",") if v.strip())

    configured = (
        Provider(
            "google",
            ("https://accounts.google.com", "accounts.google.com"),
            ids(settings.google_client_ids),
            settings.google_jwks_url,
        ),
        Provider("apple", ("https://appleid.apple.com",), ids(settings.apple_client_ids), settings.apple_jwks_url),
    )
    return {p.name: p for p in configured if p.audiences}


class JwksCache:
    """Public keys per JWKS URL, kept for an hour; an unknown key id refetches once (rotation)."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = asyncio.Lock()

    async def key(self, url: str, kid: str | None) -> Any:
        keys = await self._load(url, refresh=False)
        if kid not in keys:
            keys = await self._load(url, refresh=True)
        if kid not in keys:
            raise Unauthorized("Invalid or expired token")
        return keys[kid]

    async def _load(self, url: str, *, refresh: bool) -> dict[str, Any]:
        async with self._lock:
            cached = self._keys.get(url)
            if cached is not None and not refresh and cached[0] > time.monotonic():
                return cached[1]
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.get(url)
                    response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, json.JSONDecodeError) as exc:
                raise ServiceUnavailable(f"Could not fetch the provider's keys: {exc}")
            keys = {}
            for entry in document.get("keys", []):
                try:
                    keys[entry.get("kid")] = jwt.PyJWK(entry).key
                except jwt.PyJWTError:
                    continue  # a key type we do not use
            self._keys[url] = (time.monotonic() + JWKS_TTL_SECONDS, keys)
            return keys


async def verify_id_token(settings: Settings, cache: JwksCache, provider_name: str, token: str) -> SocialIdentity:
    """The identity in a provider's ID token. Unsupported provider: 400; bad signature, issuer,
    audience or expiry: 401."""
    provider = providers(settings).get((provider_name or "").lower())
    if provider is None:
        raise BadRequest("Unsupported provider")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("Invalid or expired token")
    key = await cache.key(provider.jwks_url, header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=list(provider.audiences),
            issuer=list(provider.issuers),
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        raise Unauthorized("Invalid or expired token")
    verified = claims.get("email_verified")
    return SocialIdentity(
        provider=provider.name,
        subject=str(claims["sub"]),
        email=claims.get("email"),
        email_verified=verified is True or verified == "true",
        first_name=claims.get("given_name"),
        last_name=claims.get("family_name"),
    )
