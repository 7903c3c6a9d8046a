from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Account

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions" / "workflows"
TERMINAL = {"COMPLETED", "CANCELLED", "FAILED", "COMPENSATED"}


def shipped(name: str) -> dict[str, Any]:
    return dict(json.loads((DEFINITIONS / f"{name}.json").read_text()))


class WorkflowApi:
    """Thin helper over the HTTP API, as a consumer would use it."""

    def __init__(self, client: httpx.AsyncClient, account: Account) -> None:
        self.client = client
        self.account = account

    async def create(self, document: dict[str, Any], *, unique: bool = True) -> dict[str, Any]:
        if unique:
            document = {**document, "workflowId": f"{document['workflowId']}-{uuid.uuid4().hex[:6]}"}
        response = await self.client.post("/api/workflows/definitions", json=document, headers=self.account.headers)
        assert response.status_code == 201, response.text
        return dict(response.json()["data"])

    async def start(self, workflow_id: str, **body: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/workflows/instances", json={"workflowId": workflow_id, **body}, headers=self.account.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json()["data"]["instance"])

    async def instance(self, instance_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/workflows/instances/{instance_id}", headers=self.account.headers)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    async def wait_for(
        self, instance_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            current = await self.instance(instance_id)
            if predicate(current):
                return current
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"instance never matched; last state: {current}")
            await asyncio.sleep(0.05)

    async def wait_status(self, instance_id: str, *statuses: str, timeout: float = 20) -> dict[str, Any]:
        return await self.wait_for(instance_id, lambda i: i["status"] in statuses, timeout)

    async def events(self, instance_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/api/workflows/instances/{instance_id}/events?limit=200", headers=self.account.headers
        )
        assert response.status_code == 200, response.text
        return list(reversed(response.json()["data"]))  # oldest first

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.account.headers)


MakeApi = Callable[..., Awaitable[WorkflowApi]]


@pytest.fixture
async def wf(client: httpx.AsyncClient, admin: Account) -> WorkflowApi:
    return WorkflowApi(client, admin)
