"""Helpers of the business-rules tests: a thin client over the HTTP API, and accounts placed in a
chosen organization."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Account

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
