"""Invite codes as consumers and admins see them: limits, listings, revocation, verify and apply
(with their rate limit), and a race for a single-use code."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.invite_codes.codes import ALPHABET, ENTROPY_BITS
from tests.conftest import Account
from tests.consumers.conftest import SignedUpConsumer, SignUp, sign_up
from tests.helpers import nothing_written


async def inactive_consumer(strict_client: httpx.AsyncClient, tenant_id: uuid.UUID) -> SignedUpConsumer:
    consumer = await sign_up(strict_client, tenant_id)
    assert consumer.body["active"] is False
    return consumer


async def admin_code(client: httpx.AsyncClient, admin: Account, **body: object) -> dict[str, str]:
    response = await client.post("/api/invite_codes/admin/generate", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_codes_are_unguessable_and_unambiguous() -> None:
    assert ENTROPY_BITS >= 40
    assert not set("0O1IL") & set(ALPHABET)


async def test_a_consumer_has_at_most_three_active_codes_and_sees_only_its_own(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    alice, bob = await signup(), await signup()
    codes = []
    for _ in range(3):
        response = await client.post("/api/invite_codes/generate", headers=alice.headers)
        assert response.status_code == 200, response.text
        codes.append(response.json()["code"])
    assert all(re.fullmatch(f"[{ALPHABET}]{{10}}", code) for code in codes)
    fourth = await client.post("/api/invite_codes/generate", headers=alice.headers)
    assert fourth.status_code == 422, fourth.text
    mine = await client.get("/api/invite_codes/me", headers=alice.headers)
    assert sorted(c["code"] for c in mine.json()["items"]) == sorted(codes)
    assert {c["status"] for c in mine.json()["items"]} == {"available"}
    theirs = await client.get("/api/invite_codes/me", headers=bob.headers)
    assert theirs.json() == {"items": []}


async def test_an_inactive_consumer_cannot_generate(
    client: httpx.AsyncClient,
    admin: Account,
    strict_client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    pending = await inactive_consumer(strict_client, admin.tenant_id)
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.post("/api/invite_codes/generate", headers=pending.headers)
        assert response.status_code == 422


async def test_apply_activates_once_and_the_used_code_cannot_be_revoked(
    client: httpx.AsyncClient,
    admin: Account,
    strict_client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    code = await admin_code(client, admin)
    pending = await inactive_consumer(strict_client, admin.tenant_id)
    checked = await client.post("/api/invite_codes/verify", json={"code": code["code"]}, headers=pending.headers)
    assert checked.status_code == 200, checked.text
    assert checked.json() == {"valid": True, "type": "admin"}
    applied = await client.post("/api/invite_codes/apply", json={"code": code["code"].lower()}, headers=pending.headers)
    assert applied.status_code == 200, applied.text
    assert applied.json() == {"activated": True}
    me = await client.get("/api/consumers/me", headers=pending.headers)
    assert me.json()["active"] is True
    async with nothing_written(sessionmaker, admin.tenant_id):
        again = await client.post("/api/invite_codes/apply", json={"code": code["code"]}, headers=pending.headers)
        assert again.status_code == 422
        assert again.json() == {"error": "Account is already active"}
        revoke = await client.post("/api/invite_codes/admin/revoke", json={"id": code["id"]}, headers=admin.headers)
        assert revoke.status_code == 422
    listed = await client.get("/api/invite_codes/admin", params={"status": "used"}, headers=admin.headers)
    [row] = listed.json()["items"]
    assert (row["usedByConsumerId"], row["usedByEmail"]) == (pending.id, pending.email)
    assert row["createdByEmail"] == admin.email


async def test_revoked_expired_and_unknown_codes_are_refused(
    client: httpx.AsyncClient,
    admin: Account,
    strict_client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    revoked = await admin_code(client, admin)
    assert (
        await client.post("/api/invite_codes/admin/revoke", json={"id": revoked["id"]}, headers=admin.headers)
    ).status_code == 200
    expired = await admin_code(client, admin, expiresAt=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    async with sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE invite_codes SET expires_at = now() - interval '1 minute' WHERE id = :i"), {"i": expired["id"]}
        )
    pending = await inactive_consumer(strict_client, admin.tenant_id)
    async with nothing_written(sessionmaker, admin.tenant_id):
        answers = {}
        for name, code in (("revoked", revoked["code"]), ("expired", expired["code"]), ("unknown", "ABCDEFGHJK")):
            response = await client.post("/api/invite_codes/apply", json={"code": code}, headers=pending.headers)
            answers[name] = (response.status_code, response.json()["error"])
    assert answers == {
        "revoked": (422, "Invite code has been revoked"),
        "expired": (422, "Invite code has expired"),
        "unknown": (422, "Invalid invite code"),
    }
    assert (await client.get("/api/consumers/me", headers=pending.headers)).json()["active"] is False
    statuses = await client.get("/api/invite_codes/admin", headers=admin.headers)
    assert sorted(c["status"] for c in statuses.json()["items"]) == ["expired", "revoked"]


async def test_two_consumers_racing_for_a_single_use_code_one_wins(
    client: httpx.AsyncClient, admin: Account, strict_client: httpx.AsyncClient
) -> None:
    code = (await admin_code(client, admin))["code"]
    racers = [await inactive_consumer(strict_client, admin.tenant_id) for _ in range(2)]
    answers = await asyncio.gather(
        *(client.post("/api/invite_codes/apply", json={"code": code}, headers=c.headers) for c in racers)
    )
    assert sorted(a.status_code for a in answers) == [200, 422]
    active = [(await client.get("/api/consumers/me", headers=c.headers)).json()["active"] for c in racers]
    assert sorted(active) == [False, True]


async def test_a_multi_use_code_for_a_consumer_serves_several(
    client: httpx.AsyncClient,
    admin: Account,
    strict_client: httpx.AsyncClient,
    signup: SignUp,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    owner = await signup()
    code = await admin_code(client, admin, maxUses=2, consumerId=owner.id)
    for _ in range(2):
        pending = await inactive_consumer(strict_client, admin.tenant_id)
        response = await client.post("/api/invite_codes/apply", json={"code": code["code"]}, headers=pending.headers)
        assert response.status_code == 200, response.text
    third = await inactive_consumer(strict_client, admin.tenant_id)
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.post("/api/invite_codes/apply", json={"code": code["code"]}, headers=third.headers)
        assert response.status_code == 422


@pytest.mark.parametrize("action", ["verify", "apply"])
async def test_verify_and_apply_allow_three_requests_a_minute(
    client: httpx.AsyncClient, admin: Account, strict_client: httpx.AsyncClient, action: str
) -> None:
    pending = await inactive_consumer(strict_client, admin.tenant_id)
    codes = []
    for _ in range(7):  # a window boundary can reset the count once; 7 tries always meet the limit
        response = await client.post(f"/api/invite_codes/{action}", json={"code": "NOPE"}, headers=pending.headers)
        codes.append(response.status_code)
        if response.status_code == 429:
            assert 1 <= int(response.headers["Retry-After"]) <= 60
            break
    assert codes[:3] == [422, 422, 422]
    assert codes[-1] == 429


async def test_admin_routes_need_admin_features(
    client: httpx.AsyncClient, signup: SignUp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await signup()
    assert (await client.get("/api/invite_codes/admin", headers=consumer.headers)).status_code == 403
    async with nothing_written(sessionmaker, consumer.tenant_id):
        assert (
            await client.post("/api/invite_codes/admin/generate", json={}, headers=consumer.headers)
        ).status_code == 403


async def test_another_tenants_code_is_neither_listed_nor_revocable_nor_usable(
    client: httpx.AsyncClient,
    admin: Account,
    make_account: Callable[..., object],
    strict_client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    code = await admin_code(client, admin)
    other = await make_account("admin")  # type: ignore[misc]
    stranger = await inactive_consumer(strict_client, other.tenant_id)
    async with nothing_written(sessionmaker, admin.tenant_id), nothing_written(sessionmaker, other.tenant_id):
        revoke = await client.post("/api/invite_codes/admin/revoke", json={"id": code["id"]}, headers=other.headers)
        assert revoke.status_code == 404
        assert (await client.get("/api/invite_codes/admin", headers=other.headers)).json()["total"] == 0
        response = await client.post("/api/invite_codes/apply", json={"code": code["code"]}, headers=stranger.headers)
        assert response.status_code == 422
