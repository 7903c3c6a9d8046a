"""Consumers signed up through the API, in a fresh tenant per test."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Account, MakeAccount
from tests.helpers import anonymous

SIGNUP_PASSWORD = "consumer-secret-1"


@dataclass
class SignedUpConsumer:
    email: str
    token: str
    body: dict[str, object]
    tenant_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def user_id(self) -> str:
        return str(self.body["userId"])


SignUp = Callable[..., Awaitable[SignedUpConsumer]]


async def sign_up(client: httpx.AsyncClient, tenant_id: uuid.UUID, email: str | None = None) -> SignedUpConsumer:
    email = email or f"c-{uuid.uuid4().hex[:10]}@covo.test"
    response = await anonymous(client).post(
        "/api/better_auth/signup",
        json={"email": email, "password": SIGNUP_PASSWORD},
        headers={"X-Tenant-Id": str(tenant_id)},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return SignedUpConsumer(email, body["token"], body["user"], tenant_id)


@pytest.fixture
def signup(client: httpx.AsyncClient, admin: Account) -> SignUp:
    """Signs a consumer up in the `admin` fixture's tenant (or the tenant given)."""

    async def factory(tenant_id: uuid.UUID | None = None, email: str | None = None) -> SignedUpConsumer:
        return await sign_up(client, tenant_id or admin.tenant_id, email)

    return factory


@pytest.fixture
async def other_admin(make_account: MakeAccount) -> Account:
    return await make_account("admin")
