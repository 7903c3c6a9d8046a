"""Admin CRUD of consumers and the consumer's own profile."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Account
from tests.consumers.conftest import SignUp
from tests.helpers import nothing_written


async def test_admin_creates_lists_searches_updates_and_deletes(client: httpx.AsyncClient, admin: Account) -> None:
    created = await client.post(
        "/api/consumers/admin",
        json={"email": "ada@covo.test", "password": "ada-secret-1", "firstName": "Ada", "homeCountryCode": "DE"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    consumer_id = created.json()["id"]
    found = await client.get("/api/consumers/admin", params={"search": "ada"}, headers=admin.headers)
    assert found.status_code == 200, found.text
    assert [c["id"] for c in found.json()["items"]] == [consumer_id]
    assert found.json()["items"][0]["homeCountryCode"] == "DE"
    one = await client.get("/api/consumers/admin", params={"id": consumer_id}, headers=admin.headers)
    assert one.json()["total"] == 1

    updated = await client.put(
        "/api/consumers/admin", json={"id": consumer_id, "lastName": "Lovelace"}, headers=admin.headers
    )
    assert updated.status_code == 200, updated.text
    one = await client.get("/api/consumers/admin", params={"id": consumer_id}, headers=admin.headers)
    assert (one.json()["items"][0]["firstName"], one.json()["items"][0]["lastName"]) == ("Ada", "Lovelace")

    deleted = await client.delete("/api/consumers/admin", params={"id": consumer_id}, headers=admin.headers)
    assert deleted.status_code == 200
    assert (await client.get("/api/consumers/admin", headers=admin.headers)).json()["total"] == 0
    again = await client.delete("/api/consumers/admin", params={"id": consumer_id}, headers=admin.headers)
    assert again.status_code == 404
    missing = await client.delete("/api/consumers/admin", headers=admin.headers)
    assert missing.status_code == 400


async def test_admin_create_with_taken_email_is_409(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    body = {"email": "dup@covo.test", "password": "dup-secret-1"}
    assert (await client.post("/api/consumers/admin", json=body, headers=admin.headers)).status_code == 201
    async with nothing_written(sessionmaker, admin.tenant_id):
        body["email"] = "DUP@covo.test"
        assert (await client.post("/api/consumers/admin", json=body, headers=admin.headers)).status_code == 409


async def test_another_tenants_consumer_is_404(
    client: httpx.AsyncClient, signup: SignUp, other_admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await signup()
    async with nothing_written(sessionmaker, consumer.tenant_id):
        update = await client.put(
            "/api/consumers/admin", json={"id": consumer.id, "firstName": "X"}, headers=other_admin.headers
        )
        assert update.status_code == 404
        delete = await client.delete("/api/consumers/admin", params={"id": consumer.id}, headers=other_admin.headers)
        assert delete.status_code == 404
    listed = await client.get("/api/consumers/admin", params={"id": consumer.id}, headers=other_admin.headers)
    assert listed.json()["total"] == 0


async def test_consumer_patches_own_profile_with_validation(
    client: httpx.AsyncClient, signup: SignUp, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = await signup()
    patched = await client.patch(
        "/api/consumers/me",
        json={"firstName": "Grace", "languageCode": "en", "displayCurrency": "EUR", "address": {"city": "Rome"}},
        headers=consumer.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["firstName"] == "Grace"
    assert patched.json()["address"] == {"city": "Rome"}
    async with nothing_written(sessionmaker, consumer.tenant_id):
        for bad in ({"displayCurrency": "euro"}, {"homeCountryCode": "Germany"}, {"active": False}, {"email": "x@y.z"}):
            refused = await client.patch("/api/consumers/me", json=bad, headers=consumer.headers)
            assert refused.status_code == 400, (bad, refused.text)
    me = (await client.get("/api/consumers/me", headers=consumer.headers)).json()
    assert (me["displayCurrency"], me["active"], me["email"]) == ("EUR", True, consumer.email)


async def test_consumer_features_do_not_reach_admin_routes(client: httpx.AsyncClient, signup: SignUp) -> None:
    consumer = await signup()
    response = await client.get("/api/consumers/admin", headers=consumer.headers)
    assert response.status_code == 403


async def test_a_user_without_profile_gets_404_on_me(client: httpx.AsyncClient, admin: Account) -> None:
    assert (await client.get("/api/consumers/me", headers=admin.headers)).status_code == 404
