"""A signed-up consumer with its two wallets, and an admin of the same tenant who adjusts them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Account
from tests.consumers.conftest import SignedUpConsumer, sign_up


@dataclass
class Wallets:
    consumer: SignedUpConsumer
    standard: str
    bonus: str


async def wallets_of(client: httpx.AsyncClient, consumer: SignedUpConsumer) -> Wallets:
    response = await client.get("/api/wallet/me/wallets", headers=consumer.headers)
    assert response.status_code == 200, response.text
    ids = {w["type"]: w["id"] for w in response.json()["wallets"]}
    return Wallets(consumer, ids["standard"], ids["bonus"])


@pytest.fixture
async def wallets(client: httpx.AsyncClient, admin: Account) -> Wallets:
    return await wallets_of(client, await sign_up(client, admin.tenant_id))


async def adjust(
    client: httpx.AsyncClient,
    admin: Account,
    wallet_id: str,
    kind: str,
    cents: int,
    key: str | None = None,
    reason: str = "support",
    **extra: Any,
) -> httpx.Response:
    headers = {**admin.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    body = {"type": kind, "amountEuroCents": cents, "reason": reason, **extra}
    return await client.post(f"/api/wallet/admin/wallets/{wallet_id}/transactions", json=body, headers=headers)


async def balances(client: httpx.AsyncClient, consumer: SignedUpConsumer) -> dict[str, int]:
    response = await client.get("/api/wallet/me/wallets", headers=consumer.headers)
    assert response.status_code == 200, response.text
    return {w["type"]: w["balance"]["amount"] for w in response.json()["wallets"]}
