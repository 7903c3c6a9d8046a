"""Helpers of the business-rules tests: a thin client over the HTTP API, and accounts placed in a
chosen organization."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.auth.security import hash_password
from engine.db.models import Organization, Role, User, UserRole
from tests.conftest import PASSWORD, Account, login

BASE = "/api/business_rules"


def key(prefix: str = "rule") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class RulesApi:
    def __init__(self, client: httpx.AsyncClient, account: Account) -> None:
        self.client = client
        self.account = account

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.account.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, BASE + path, headers=headers, **kwargs)

    async def create_rule(self, **fields: Any) -> dict[str, Any]:
        body = {"ruleId": key(), "ruleName": "A rule", "ruleType": "GUARD", "entityType": "orders.order", **fields}
        response = await self.request("POST", "/rules", json=body)
        assert response.status_code == 201, response.text
        return {**body, "id": response.json()["id"]}

    async def rule(self, rule_uuid: str) -> dict[str, Any]:
        response = await self.request("GET", f"/rules/{rule_uuid}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def create_set(self, **fields: Any) -> dict[str, Any]:
        body = {"setId": key("set"), "setName": "A set", **fields}
        response = await self.request("POST", "/sets", json=body)
        assert response.status_code == 201, response.text
        return {**body, "id": response.json()["id"]}

    async def execute(self, **body: Any) -> dict[str, Any]:
        response = await self.request("POST", "/execute", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def execute_rule(self, rule_uuid: str, **body: Any) -> dict[str, Any]:
        response = await self.request("POST", f"/execute/{rule_uuid}", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def logs(self, **params: Any) -> dict[str, Any]:
        response = await self.request("GET", "/logs", params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())


async def account_in_org(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    *roles: str,
    organization_id: uuid.UUID | None = None,
) -> Account:
    """A user of `tenant_id` in `organization_id` (a new organization when None)."""
    async with sessionmaker() as session, session.begin():
        if organization_id is None:
            org = Organization(id=uuid.uuid4(), tenant_id=tenant_id, name=f"Org {uuid.uuid4().hex[:6]}")
            org.root_id, org.tree_path = org.id, str(org.id)
            session.add(org)
            await session.flush()
            organization_id = org.id
        user = User(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            organization_id=organization_id,
            email=f"user-{uuid.uuid4().hex[:10]}@covo.test",
            password_hash=hash_password(PASSWORD),
        )
        session.add(user)
        await session.flush()
        for name in roles:
            role = await session.scalar(select(Role).where(Role.tenant_id == tenant_id, Role.name == name))
            assert role is not None, name
            session.add(UserRole(user_id=user.id, role_id=role.id))
    token = await login(client, user.email)
    return Account(user.email, user.id, tenant_id, organization_id, token)
