"""Bad input is a client mistake (400 naming the field) and never reaches the database: NUL
characters anywhere, strings longer than their column, JSON nested too deep, and booleans or
integers of the wrong JSON type."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import Tenant
from tests.conftest import Account
from tests.helpers import count_rows, nothing_written


def _names_field(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert field in body["error"], body
    assert any(detail["path"] == field for detail in body["details"]), body


async def _role_names(client: httpx.AsyncClient, account: Account) -> list[str]:
    response = await client.get("/api/auth/roles", headers=account.headers)
    return sorted(r["name"] for r in response.json()["items"])


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/directory/organizations", {"name": "a\u0000b"}, "name"),
        ("POST", "/api/directory/tenants", {"name": "x\u0000"}, "name"),
        ("POST", "/api/auth/roles", {"name": "\u0000"}, "name"),
        ("PUT", "/api/auth/profile", {"name": "Ann\u0000"}, "name"),
        ("POST", "/api/business_rules/rules", {"ruleName": "r", "conditions": {"==": [{"var": "a\u0000"}, 1]}}, None),
    ],
)
async def test_a_nul_character_in_a_body_is_400_naming_the_field(
    client: httpx.AsyncClient,
    superadmin: Account,
    sessionmaker: async_sessionmaker[AsyncSession],
    method: str,
    path: str,
    body: dict[str, Any],
    field: str | None,
) -> None:
    tenants = await count_rows(sessionmaker, Tenant)
    async with nothing_written(sessionmaker, superadmin.tenant_id):
        response = await client.request(method, path, json=body, headers=superadmin.headers)
        _names_field(response, field or "conditions.==[0].var")
    assert await count_rows(sessionmaker, Tenant) == tenants


async def test_a_nul_character_in_a_query_parameter_is_400(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.get("/api/auth/users", params={"search": "a\u0000b"}, headers=admin.headers)
    _names_field(response, "search")
    response = await client.get("/api/workflows/definitions/a%00b", headers=admin.headers)
    _names_field(response, "path")


async def test_a_nul_character_in_a_form_field_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", data={"email": "a\u0000@b.c", "password": "x"})
    _names_field(response, "email")


async def test_a_string_longer_than_its_column_is_400_and_nothing_is_stored(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    roles = await _role_names(client, admin)
    response = await client.post("/api/auth/roles", json={"name": "r" * 101}, headers=admin.headers)
    _names_field(response, "name")
    assert "100" in response.json()["error"]
    assert await _role_names(client, admin) == roles
    response = await client.post("/api/auth/roles", json={"name": "r" * 100}, headers=admin.headers)
    assert response.status_code == 201, response.text

    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.put("/api/auth/profile", json={"name": "n" * 201}, headers=admin.headers)
        _names_field(response, "name")


async def test_json_nested_too_deep_is_400(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        deep: Any = 1
        for _ in range(40):
            deep = {"!": [deep]}
        body = {"ruleName": "deep", "ruleType": "GUARD", "entityType": "order", "conditions": deep}
        response = await client.post("/api/business_rules/rules", json=body, headers=admin.headers)
        assert response.status_code == 400, response.text
        assert response.json()["details"][0]["code"] == "too_deep"
        very_deep = "[" * 100_000 + "]" * 100_000
        response = await client.post(
            "/api/business_rules/rules",
            content=very_deep,
            headers={**admin.headers, "content-type": "application/json"},
        )
        assert response.status_code == 400, response.text


@pytest.mark.parametrize("value", [0, 1, "false", "true", None])
async def test_booleans_must_be_booleans(client: httpx.AsyncClient, admin: Account, value: Any) -> None:
    body = {"userId": str(admin.user_id), "isSuperAdmin": value, "features": ["auth.*"]}
    response = await client.put("/api/auth/users/acl", json=body, headers=admin.headers)
    if value is None:  # optional: null means "leave as is"
        assert response.status_code == 200, response.text
        return
    _names_field(response, "isSuperAdmin")
    acl = await client.get("/api/auth/users/acl", params={"userId": str(admin.user_id)}, headers=admin.headers)
    assert acl.json()["hasCustomAcl"] is False


@pytest.mark.parametrize("value", ["1", 1.0, True])
async def test_integers_must_be_integers(
    client: httpx.AsyncClient, admin: Account, value: Any, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    body = {"ruleName": "p", "ruleType": "GUARD", "entityType": "order", "conditions": True, "priority": value}
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.post("/api/business_rules/rules", json=body, headers=admin.headers)
        assert response.status_code == 400, response.text
        assert "priority" in response.json()["error"]
