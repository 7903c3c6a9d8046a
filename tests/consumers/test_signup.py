"""Sign-up: a consumer with both wallets, signed in; taken e-mails, weak passwords, invite mode."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import User
from tests.conftest import Account
from tests.consumers.conftest import SIGNUP_PASSWORD, SignUp, sign_up
from tests.helpers import anonymous, count_rows, nothing_written


async def test_signup_returns_tokens_and_an_active_profile_with_two_empty_wallets(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    consumer = await signup()
    assert consumer.body["email"] == consumer.email
    assert consumer.body["active"] is True
    me = await client.get("/api/consumers/me", headers=consumer.headers)
    assert me.status_code == 200, me.text
    assert me.json() == consumer.body
    wallets = await client.get("/api/wallet/me/wallets", headers=consumer.headers)
    assert wallets.status_code == 200, wallets.text
    kinds = {w["type"]: w["balance"] for w in wallets.json()["wallets"]}
    assert kinds == {
        "standard": {"amount": 0, "currency": "EUR"},
        "bonus": {"amount": 0, "currency": "EUR"},
        "total": {"amount": 0, "currency": "EUR"},
    }


async def test_the_new_consumer_can_log_in_with_its_password(client: httpx.AsyncClient, signup: SignUp) -> None:
    consumer = await signup()
    response = await anonymous(client).post(
        "/api/auth/login", data={"email": consumer.email, "password": SIGNUP_PASSWORD}
    )
    assert response.status_code == 200, response.text


async def test_a_taken_email_in_any_case_is_409_and_creates_nothing(
    client: httpx.AsyncClient, signup: SignUp, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await signup()
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await anonymous(client).post(
            "/api/better_auth/signup",
            json={"email": consumer.email.upper(), "password": SIGNUP_PASSWORD},
            headers={"X-Tenant-Id": str(admin.tenant_id)},
        )
        assert response.status_code == 409, response.text
        assert response.json() == {"error": "Email already registered"}
    listed = await client.get("/api/consumers/admin", headers=admin.headers)
    assert listed.json()["total"] == 1


async def test_weak_password_and_bad_payload_are_400(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    headers = {"X-Tenant-Id": str(admin.tenant_id)}
    async with nothing_written(sessionmaker, admin.tenant_id):
        weak = await anonymous(client).post(
            "/api/better_auth/signup", json={"email": "weak@covo.test", "password": "short"}, headers=headers
        )
        assert weak.status_code == 400, weak.text
        missing = await anonymous(client).post(
            "/api/better_auth/signup", json={"email": "x@covo.test"}, headers=headers
        )
        assert missing.status_code == 400
    listed = await client.get("/api/consumers/admin", headers=admin.headers)
    assert listed.json()["total"] == 0


async def test_signup_is_rate_limited_like_login(make_client: Callable[..., Any], admin: Account) -> None:
    async for limited in make_client(auth_rate_limit=2):
        codes = []
        for _ in range(3):
            response = await limited.post(
                "/api/better_auth/signup",
                json={"email": f"r-{uuid.uuid4().hex[:8]}@covo.test", "password": "x"},
                headers={"X-Tenant-Id": str(admin.tenant_id), "x-forwarded-for": "ignored"},
            )
            codes.append(response.status_code)
        assert codes[-1] == 429
        assert int(response.headers["Retry-After"]) >= 1


async def test_with_invite_codes_required_new_consumers_start_inactive(
    make_client: Callable[..., Any], admin: Account
) -> None:
    async for strict in make_client(invite_codes_required=True):
        consumer = await sign_up(strict, admin.tenant_id)
        assert consumer.body["active"] is False


async def test_unknown_tenant_is_400(client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    email = f"t-{uuid.uuid4().hex[:8]}@covo.test"
    response = await anonymous(client).post(
        "/api/better_auth/signup",
        json={"email": email, "password": SIGNUP_PASSWORD},
        headers={"X-Tenant-Id": str(uuid.uuid4())},
    )
    assert response.status_code == 400
    assert await count_rows(sessionmaker, User, User.email == email) == 0  # no account anywhere
