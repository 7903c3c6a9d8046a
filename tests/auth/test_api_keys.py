"""API keys: a secret shown once, acting as its roles in its tenant until revoked or expired."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import ApiKey
from tests.conftest import Account, MakeAccount
from tests.helpers import anonymous, create_organization, nothing_written


async def _create(client: httpx.AsyncClient, owner: Account, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/api_keys/keys", json={"name": "integration", **fields}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _apikey(secret: str) -> dict[str, str]:
    return {"Authorization": f"apikey {secret}"}


async def test_created_key_shows_its_secret_once(client: httpx.AsyncClient, admin: Account) -> None:
    key = await _create(client, admin, description="CI pipeline", roles=["employee"])
    assert key["secret"].startswith(key["keyPrefix"])
    assert len(key["secret"]) > len(key["keyPrefix"]) + 20
    assert (key["name"], key["tenantId"], key["organizationId"], key["expiresAt"]) == (
        "integration", str(admin.tenant_id), None, None,
    )  # fmt: skip
    assert [r["name"] for r in key["roles"]] == ["employee"]

    listed = await client.get("/api/api_keys/keys", headers=admin.headers)
    assert listed.status_code == 200
    assert key["secret"] not in listed.text
    [item] = listed.json()["items"]
    assert "secret" not in item
    assert (item["id"], item["keyPrefix"], item["description"]) == (key["id"], key["keyPrefix"], "CI pipeline")
    assert item["roles"] == key["roles"]
    assert item["createdAt"] and item["lastUsedAt"] is None


async def test_the_list_names_each_keys_roles_in_order_and_a_deleted_role_as_null(
    client: httpx.AsyncClient, admin: Account
) -> None:
    created = await client.post("/api/auth/roles", json={"name": "short-lived"}, headers=admin.headers)
    assert created.status_code == 201, created.text
    role_id = created.json()["id"]
    first = await _create(client, admin, roles=[role_id, "employee"])
    second = await _create(client, admin, roles=["consumer"])
    deleted = await client.delete("/api/auth/roles", params={"id": role_id}, headers=admin.headers)
    assert deleted.status_code == 200, deleted.text

    listed = await client.get("/api/api_keys/keys", headers=admin.headers)
    assert listed.status_code == 200
    roles = {item["id"]: item["roles"] for item in listed.json()["items"]}
    employee = first["roles"][1]
    assert employee["name"] == "employee"
    assert roles[first["id"]] == [{"id": role_id, "name": None}, employee]
    assert roles[second["id"]] == second["roles"] and second["roles"][0]["name"] == "consumer"


async def test_key_acts_with_its_roles_features(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    colleague = await make_account("employee", tenant_id=admin.tenant_id)
    key = await _create(client, admin, roles=["employee"])
    listed = await anonymous(client).get("/api/auth/users", headers=_apikey(key["secret"]))
    assert listed.status_code == 200
    assert {u["id"] for u in listed.json()["items"]} == {str(admin.user_id), str(colleague.user_id)}

    denied = await client.post("/api/auth/users", json={"email": "bot-made@covo.test"}, headers=_apikey(key["secret"]))
    assert denied.status_code == 403
    assert denied.json() == {"error": "Forbidden", "requiredFeatures": ["auth.users.create"]}
    assert (await client.get("/api/auth/users", headers=admin.headers)).json()["total"] == 2  # none created


async def test_key_is_accepted_in_x_api_key_header_and_as_bearer(client: httpx.AsyncClient, admin: Account) -> None:
    secret = (await _create(client, admin, roles=["employee"]))["secret"]
    client = anonymous(client)
    assert (await client.get("/api/auth/roles", headers={"X-API-Key": secret})).status_code == 200
    assert (await client.get("/api/auth/roles", headers={"Authorization": f"Bearer {secret}"})).status_code == 200


async def test_using_a_key_records_last_use(client: httpx.AsyncClient, admin: Account) -> None:
    key = await _create(client, admin, roles=["employee"])
    await client.get("/api/auth/roles", headers=_apikey(key["secret"]))
    [item] = (await client.get("/api/api_keys/keys", headers=admin.headers)).json()["items"]
    assert item["lastUsedAt"] is not None


async def test_key_without_roles_can_do_nothing_guarded(client: httpx.AsyncClient, admin: Account) -> None:
    secret = (await _create(client, admin))["secret"]
    assert (await client.get("/api/auth/users", headers=_apikey(secret))).status_code == 403
    # a key is not a user: it has no profile
    assert (await client.get("/api/auth/profile", headers=_apikey(secret))).status_code == 404


async def test_revoked_key_is_401(client: httpx.AsyncClient, admin: Account) -> None:
    key = await _create(client, admin, roles=["employee"])
    revoked = await client.delete("/api/api_keys/keys", params={"id": key["id"]}, headers=admin.headers)
    assert revoked.json() == {"success": True}
    response = await anonymous(client).get("/api/auth/users", headers=_apikey(key["secret"]))
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}
    assert (await client.get("/api/api_keys/keys", headers=admin.headers)).json()["items"] == []
    again = await client.delete("/api/api_keys/keys", params={"id": key["id"]}, headers=admin.headers)
    assert again.status_code == 404


async def test_expired_key_is_401(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    key = await _create(client, admin, roles=["employee"], expiresAt=soon)
    assert key["expiresAt"] is not None
    assert (await client.get("/api/auth/roles", headers=_apikey(key["secret"]))).status_code == 200
    async with sessionmaker() as session, session.begin():  # the hour passes
        await session.execute(
            update(ApiKey).where(ApiKey.id == uuid.UUID(key["id"])).values(expires_at=datetime.now(UTC))
        )
    response = await anonymous(client).get("/api/auth/roles", headers=_apikey(key["secret"]))
    assert response.status_code == 401


async def test_unknown_or_tampered_secret_is_401(client: httpx.AsyncClient, admin: Account) -> None:
    secret = (await _create(client, admin, roles=["employee"]))["secret"]
    client = anonymous(client)
    assert (await client.get("/api/auth/roles", headers=_apikey(secret[:-1] + "x"))).status_code == 401
    assert (await client.get("/api/auth/roles", headers=_apikey("covo_" + "a" * 43))).status_code == 401


async def test_key_sees_only_its_own_tenant(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    outsider = await make_account("admin")
    key = await _create(client, admin, roles=["admin"])
    users = await client.get("/api/auth/users", headers=_apikey(key["secret"]))
    assert [u["id"] for u in users.json()["items"]] == [str(admin.user_id)]
    async with nothing_written(sessionmaker, outsider.tenant_id):
        foreign = await client.put(
            "/api/auth/users", json={"id": str(outsider.user_id), "name": "x"}, headers=_apikey(key["secret"])
        )
        assert foreign.status_code == 404
    foreign_list = await client.get("/api/api_keys/keys", headers=outsider.headers)
    assert foreign_list.json()["items"] == []


async def test_key_of_a_deleted_tenant_stops_working(
    client: httpx.AsyncClient, superadmin: Account, make_account: MakeAccount
) -> None:
    tenant_admin = await make_account("admin")
    secret = (await _create(client, tenant_admin, roles=["employee"]))["secret"]
    await client.request(
        "DELETE", "/api/directory/tenants", json={"id": str(tenant_admin.tenant_id)}, headers=superadmin.headers
    )
    assert (await client.get("/api/auth/roles", headers=_apikey(secret))).status_code == 401


async def test_key_scoped_to_an_organization_names_it(client: httpx.AsyncClient, admin: Account) -> None:
    branch = await create_organization(client, admin, "Branch")
    key = await _create(client, admin, organizationId=branch)
    assert key["organizationId"] == branch
    [item] = (await client.get("/api/api_keys/keys", headers=admin.headers)).json()["items"]
    assert (item["organizationId"], item["organizationName"]) == (branch, "Branch")


async def test_keys_list_searches_and_pages(client: httpx.AsyncClient, admin: Account) -> None:
    for name in ("deploy-bot", "backup-bot", "reporting"):
        await _create(client, admin, name=name)
    page = await client.get("/api/api_keys/keys", params={"pageSize": 2, "page": 2}, headers=admin.headers)
    body = page.json()
    assert {k: body[k] for k in ("total", "page", "pageSize", "totalPages")} == {
        "total": 3, "page": 2, "pageSize": 2, "totalPages": 2,
    }  # fmt: skip
    assert len(body["items"]) == 1
    found = await client.get("/api/api_keys/keys", params={"search": "BOT"}, headers=admin.headers)
    assert sorted(k["name"] for k in found.json()["items"]) == ["backup-bot", "deploy-bot"]


async def test_invalid_key_requests_are_400(client: httpx.AsyncClient, admin: Account) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for body in ({"name": " "}, {"name": "x", "roles": ["no-such-role"]}, {"name": "x", "expiresAt": past}, {}):
        response = await client.post("/api/api_keys/keys", json=body, headers=admin.headers)
        assert response.status_code == 400, body
    assert (await client.delete("/api/api_keys/keys", headers=admin.headers)).status_code == 400
    assert (await client.get("/api/api_keys/keys", headers=admin.headers)).json()["total"] == 0


async def test_tenant_admin_cannot_mint_a_super_admin_key(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.post(
        "/api/api_keys/keys", json={"name": "root", "roles": ["superadmin"]}, headers=admin.headers
    )
    assert response.status_code == 403
    assert (await client.get("/api/api_keys/keys", headers=admin.headers)).json()["total"] == 0


async def test_key_cannot_carry_more_features_than_its_creator_holds(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    keeper = await make_account("employee", tenant_id=admin.tenant_id)
    await client.put(
        "/api/auth/users/acl",
        json={"userId": str(keeper.user_id), "features": ["api_keys.*"]},
        headers=admin.headers,
    )
    response = await client.post(
        "/api/api_keys/keys", json={"name": "escalate", "roles": ["admin"]}, headers=keeper.headers
    )
    assert response.status_code == 403
    assert (await client.get("/api/api_keys/keys", headers=admin.headers)).json()["total"] == 0
    # a key without roles (or with roles within the keeper's grants) is fine
    assert (await client.post("/api/api_keys/keys", json={"name": "ok"}, headers=keeper.headers)).status_code == 201


async def test_user_created_by_a_key_belongs_to_the_keys_tenant(client: httpx.AsyncClient, admin: Account) -> None:
    secret = (await _create(client, admin, roles=["admin"]))["secret"]
    email = f"bot-made-{uuid.uuid4().hex[:8]}@covo.test"
    response = await client.post("/api/auth/users", json={"email": email}, headers=_apikey(secret))
    assert response.status_code == 201
    listed = await client.get("/api/auth/users", params={"id": response.json()["id"]}, headers=admin.headers)
    assert listed.json()["items"][0]["tenantId"] == str(admin.tenant_id)


async def test_an_organization_restricted_user_sees_and_deletes_only_keys_of_its_organizations(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    branch = await create_organization(client, admin, "Branch")
    shop = await create_organization(client, admin, "Shop", parent=branch)
    tenant_wide = await _create(client, admin, roles=["employee"])
    main_key = await _create(client, admin, organizationId=str(admin.organization_id))
    shop_key = await _create(client, admin, organizationId=shop)

    manager = await make_account("employee", tenant_id=admin.tenant_id)
    acl = await client.put(
        "/api/auth/users/acl",
        json={"userId": str(manager.user_id), "features": ["api_keys.*"], "organizations": [branch]},
        headers=admin.headers,
    )
    assert acl.status_code == 200, acl.text

    listed = await client.get("/api/api_keys/keys", headers=manager.headers)
    assert [item["id"] for item in listed.json()["items"]] == [shop_key["id"]]  # a descendant of Branch
    for outside in (tenant_wide, main_key):
        gone = await client.delete("/api/api_keys/keys", params={"id": outside["id"]}, headers=manager.headers)
        assert gone.status_code == 404
    assert (
        await client.delete("/api/api_keys/keys", params={"id": shop_key["id"]}, headers=manager.headers)
    ).json() == {"success": True}

    no_org = await client.post("/api/api_keys/keys", json={"name": "wide"}, headers=manager.headers)
    assert no_org.status_code == 400
    assert "organizationId is required" in no_org.json()["error"]
    elsewhere = await client.post(
        "/api/api_keys/keys",
        json={"name": "main", "organizationId": str(admin.organization_id)},
        headers=manager.headers,
    )
    assert elsewhere.status_code == 404
    # the unrestricted admin still sees every remaining key
    remaining = await client.get("/api/api_keys/keys", headers=admin.headers)
    assert {item["id"] for item in remaining.json()["items"]} == {tenant_wide["id"], main_key["id"]}
