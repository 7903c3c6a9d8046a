"""Social sign-in: ID tokens signed by the test, verified against a JWKS served over HTTP by the
test receiver (as Google's or Apple's would be)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.settings import Settings
from tests.conftest import Account, _lifespan_client
from tests.consumers.conftest import SignUp
from tests.helpers import nothing_written
from tests.http_receiver import TinyServer, serving

CLIENT_ID = "covo-test.apps.googleusercontent.com"
GOOGLE = "https://accounts.google.com"


class Issuer:
    """A provider: its signing key, published in its JWKS under `kid`."""

    def __init__(self, kid: str = "test-key") -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        return {**json.loads(RSAAlgorithm.to_jwk(self.key.public_key())), "kid": self.kid, "alg": "RS256"}

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": GOOGLE,
            "aud": CLIENT_ID,
            "sub": uuid.uuid4().hex,
            "email": f"s-{uuid.uuid4().hex[:8]}@gmail.test",
            "email_verified": True,
            "given_name": "Sam",
            "family_name": "Social",
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
async def social_client(issuer: Issuer, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API with Google configured to this test's JWKS."""
    async with serving(TinyServer()) as jwks:
        jwks.on("/certs", 200, {"keys": [issuer.jwk()]})
        changes = {"google_client_ids": CLIENT_ID, "google_jwks_url": f"{jwks.url}/certs"}
        async for client in _lifespan_client(settings.model_copy(update=changes)):
            yield client


async def _social(client: httpx.AsyncClient, admin: Account, token: str, provider: str = "google") -> httpx.Response:
    return await client.post(
        "/api/better_auth/social",
        json={"provider": provider, "token": token},
        headers={"X-Tenant-Id": str(admin.tenant_id)},
    )


async def test_a_good_token_creates_the_consumer_then_signs_it_in(
    social_client: httpx.AsyncClient, admin: Account, issuer: Issuer
) -> None:
    token = issuer.token(sub="google-sub-1")
    first = await _social(social_client, admin, token)
    assert first.status_code == 200, first.text
    assert first.json()["isNewUser"] is True
    assert (first.json()["user"]["firstName"], first.json()["user"]["lastName"]) == ("Sam", "Social")
    again = await _social(social_client, admin, issuer.token(sub="google-sub-1", email="changed@gmail.test"))
    assert again.status_code == 200, again.text
    assert again.json()["isNewUser"] is False
    assert again.json()["user"]["id"] == first.json()["user"]["id"]
    me = await social_client.get("/api/consumers/me", headers={"Authorization": f"Bearer {again.json()['token']}"})
    assert me.status_code == 200
    wallets = await social_client.get(
        "/api/wallet/me/wallets", headers={"Authorization": f"Bearer {again.json()['token']}"}
    )
    assert len(wallets.json()["wallets"]) == 3


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 60},
        {"aud": "someone-else.apps.googleusercontent.com"},
        {"iss": "https://evil.example"},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer"],
)
async def test_expired_or_foreign_tokens_are_401(
    social_client: httpx.AsyncClient,
    admin: Account,
    issuer: Issuer,
    claims: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await _social(social_client, admin, issuer.token(**claims))
        assert response.status_code == 401, response.text
        assert response.json() == {"error": "Invalid or expired token"}


async def test_a_token_signed_by_another_key_is_401(
    social_client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        forger = Issuer(kid="test-key")  # same key id, different key
        assert (await _social(social_client, admin, forger.token())).status_code == 401
        stranger = Issuer(kid="unknown-key")
        assert (await _social(social_client, admin, stranger.token())).status_code == 401
        assert (await _social(social_client, admin, "not-a-jwt")).status_code == 401


async def test_unsupported_or_unconfigured_provider_is_400(
    social_client: httpx.AsyncClient, admin: Account, issuer: Issuer, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        assert (await _social(social_client, admin, issuer.token(), provider="myspace")).status_code == 400
        assert (await _social(social_client, admin, issuer.token(), provider="apple")).status_code == 400


async def test_a_verified_email_of_an_existing_consumer_links_it(
    social_client: httpx.AsyncClient,
    admin: Account,
    issuer: Issuer,
    signup: SignUp,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    existing = await signup()
    async with nothing_written(sessionmaker, admin.tenant_id):
        unverified = await _social(social_client, admin, issuer.token(email=existing.email, email_verified=False))
        assert unverified.status_code == 409
    linked = await _social(social_client, admin, issuer.token(email=existing.email))
    assert linked.status_code == 200, linked.text
    assert (linked.json()["isNewUser"], linked.json()["user"]["id"]) == (False, existing.id)


async def test_the_email_of_a_staff_user_is_409(
    social_client: httpx.AsyncClient, admin: Account, issuer: Issuer, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        assert (await _social(social_client, admin, issuer.token(email=admin.email))).status_code == 409
