"""Small helpers shared by the behaviour tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Account


def anonymous(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The session client keeps the cookies of the last login (`auth_token`); a request meant to
    carry no credentials must not send them."""
    client.cookies.clear()
    return client


async def role_id(client: httpx.AsyncClient, account: Account, name: str) -> str:
    response = await client.get("/api/auth/roles", params={"search": name}, headers=account.headers)
    assert response.status_code == 200, response.text
    matches = [r["id"] for r in response.json()["items"] if r["name"] == name]
    assert len(matches) == 1, response.json()
    return str(matches[0])


async def create_user(client: httpx.AsyncClient, account: Account, **fields: Any) -> str:
    body = {"email": f"new-{uuid.uuid4().hex[:10]}@covo.test", "password": "another-secret-1", **fields}
    response = await client.post("/api/auth/users", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create_organization(client: httpx.AsyncClient, account: Account, name: str, parent: str | None = None) -> str:
    body: dict[str, Any] = {"name": name}
    if parent is not None:
        body["parentId"] = parent
    response = await client.post("/api/directory/organizations", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
