"""Tenant isolation: another tenant's rows are invisible. Reads and writes that name them answer
404 exactly as for ids that do not exist (never 403, which would confirm they exist)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import PASSWORD, Account, MakeAccount
from tests.helpers import create_organization, nothing_written, role_id


@pytest.fixture
async def outsider(make_account: MakeAccount) -> Account:
    """An admin of a second, unrelated tenant."""
    return await make_account("admin")


async def _key(client: httpx.AsyncClient, owner: Account) -> dict[str, Any]:
    response = await client.post("/api/api_keys/keys", json={"name": "ci"}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_updating_another_tenants_user_is_404_and_changes_nothing(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, outsider.tenant_id):
        response = await client.put(
            "/api/auth/users", json={"id": str(outsider.user_id), "name": "Hijacked"}, headers=admin.headers
        )
        assert response.status_code == 404
        assert response.json() == {"error": "User not found"}
    profile = await client.get("/api/auth/profile", headers=outsider.headers)
    assert profile.json()["name"] is None


async def test_deleting_another_tenants_user_is_404_and_they_keep_access(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, outsider.tenant_id):
        response = await client.delete("/api/auth/users", params={"id": str(outsider.user_id)}, headers=admin.headers)
        assert response.status_code == 404
    assert (await client.get("/api/auth/profile", headers=outsider.headers)).status_code == 200


async def test_reading_another_tenants_user_acl_is_404(
    client: httpx.AsyncClient, admin: Account, outsider: Account
) -> None:
    response = await client.get("/api/auth/users/acl", params={"userId": str(outsider.user_id)}, headers=admin.headers)
    assert response.status_code == 404


async def test_writing_another_tenants_user_acl_is_404_and_changes_nothing(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, outsider.tenant_id):
        response = await client.put(
            "/api/auth/users/acl", json={"userId": str(outsider.user_id), "features": []}, headers=admin.headers
        )
        assert response.status_code == 404
    # the outsider still holds its admin grants
    assert (await client.get("/api/auth/features", headers=outsider.headers)).status_code == 200


async def test_unknown_user_id_answers_exactly_like_a_foreign_one(
    client: httpx.AsyncClient, admin: Account, outsider: Account
) -> None:
    foreign = await client.put("/api/auth/users", json={"id": str(outsider.user_id)}, headers=admin.headers)
    unknown = await client.put("/api/auth/users", json={"id": str(uuid.uuid4())}, headers=admin.headers)
    assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json())


async def test_renaming_another_tenants_role_is_404(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    foreign_role = await role_id(client, outsider, "employee")
    async with nothing_written(sessionmaker, outsider.tenant_id):
        response = await client.put(
            "/api/auth/roles", json={"id": foreign_role, "name": "pwned"}, headers=admin.headers
        )
        assert response.status_code == 404
    assert await role_id(client, outsider, "employee") == foreign_role


async def test_deleting_another_tenants_role_is_404(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    foreign_role = await role_id(client, outsider, "consumer")
    async with nothing_written(sessionmaker, outsider.tenant_id):
        response = await client.delete("/api/auth/roles", params={"id": foreign_role}, headers=admin.headers)
        assert response.status_code == 404
    assert await role_id(client, outsider, "consumer") == foreign_role


async def test_reading_another_tenants_role_acl_is_404(
    client: httpx.AsyncClient, admin: Account, outsider: Account
) -> None:
    foreign_role = await role_id(client, outsider, "admin")
    response = await client.get("/api/auth/roles/acl", params={"roleId": foreign_role}, headers=admin.headers)
    assert response.status_code == 404


async def test_writing_another_tenants_role_acl_is_404(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    foreign_role = await role_id(client, outsider, "admin")
    async with nothing_written(sessionmaker, outsider.tenant_id):
        response = await client.put(
            "/api/auth/roles/acl", json={"roleId": foreign_role, "features": []}, headers=admin.headers
        )
        assert response.status_code == 404
    assert (await client.get("/api/auth/features", headers=outsider.headers)).status_code == 200


async def test_updating_another_tenants_organization_is_404(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, outsider.tenant_id):
        response = await client.put(
            "/api/directory/organizations",
            json={"id": str(outsider.organization_id), "name": "Mine"},
            headers=admin.headers,
        )
        assert response.status_code == 404
    listed = await client.get("/api/directory/organizations", headers=outsider.headers)
    assert [o["name"] for o in listed.json()["items"]] == ["Main"]


async def test_deleting_another_tenants_organization_is_404(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, outsider.tenant_id):
        response = await client.request(
            "DELETE", "/api/directory/organizations", json={"id": str(outsider.organization_id)}, headers=admin.headers
        )
        assert response.status_code == 404
    listed = await client.get("/api/directory/organizations", headers=outsider.headers)
    assert [o["id"] for o in listed.json()["items"]] == [str(outsider.organization_id)]


async def test_creating_under_another_tenants_organization_is_404(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, outsider.tenant_id), nothing_written(sessionmaker, admin.tenant_id):
        response = await client.post(
            "/api/directory/organizations",
            json={"name": "Graft", "parentId": str(outsider.organization_id)},
            headers=admin.headers,
        )
        assert response.status_code == 404


async def test_creating_a_user_in_another_tenants_organization_is_404(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    email = f"planted-{uuid.uuid4().hex[:8]}@covo.test"
    async with nothing_written(sessionmaker, outsider.tenant_id), nothing_written(sessionmaker, admin.tenant_id):
        response = await client.post(
            "/api/auth/users",
            json={"email": email, "organizationId": str(outsider.organization_id)},
            headers=admin.headers,
        )
        assert response.status_code == 404
    listed = await client.get("/api/auth/users", params={"search": email}, headers=outsider.headers)
    assert listed.json()["total"] == 0


async def test_naming_another_tenant_when_creating_is_404(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = str(outsider.tenant_id)
    async with nothing_written(sessionmaker, outsider.tenant_id), nothing_written(sessionmaker, admin.tenant_id):
        role = await client.post("/api/auth/roles", json={"name": "planted", "tenantId": other}, headers=admin.headers)
        assert role.status_code == 404
        org = await client.post(
            "/api/directory/organizations", json={"name": "Planted", "tenantId": other}, headers=admin.headers
        )
        assert org.status_code == 404
        key = await client.post(
            "/api/api_keys/keys", json={"name": "planted", "tenantId": other}, headers=admin.headers
        )
        assert key.status_code == 404
    roles = await client.get("/api/auth/roles", headers=outsider.headers)
    assert "planted" not in [r["name"] for r in roles.json()["items"]]


async def test_revoking_another_tenants_api_key_is_404_and_it_keeps_working(
    client: httpx.AsyncClient, admin: Account, outsider: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    key = await _key(client, outsider)
    async with nothing_written(sessionmaker, outsider.tenant_id):
        response = await client.delete("/api/api_keys/keys", params={"id": key["id"]}, headers=admin.headers)
        assert response.status_code == 404
    listed = await client.get("/api/api_keys/keys", headers=outsider.headers)
    assert [k["id"] for k in listed.json()["items"]] == [key["id"]]


async def test_lists_never_include_other_tenants_rows(
    client: httpx.AsyncClient, admin: Account, outsider: Account
) -> None:
    await create_organization(client, outsider, "Outsider branch")
    outsider_key = await _key(client, outsider)
    own_key = await _key(client, admin)

    users = (await client.get("/api/auth/users", headers=admin.headers)).json()
    assert [u["id"] for u in users["items"]] == [str(admin.user_id)]
    assert {u["tenantId"] for u in users["items"]} == {str(admin.tenant_id)}

    roles = (await client.get("/api/auth/roles", headers=admin.headers)).json()
    assert roles["total"] == 4
    assert {r["tenantId"] for r in roles["items"]} == {str(admin.tenant_id)}

    orgs = (await client.get("/api/directory/organizations", headers=admin.headers)).json()
    assert [o["id"] for o in orgs["items"]] == [str(admin.organization_id)]
    tree = (await client.get("/api/directory/organizations", params={"view": "tree"}, headers=admin.headers)).json()
    assert [o["id"] for o in tree["items"]] == [str(admin.organization_id)]

    keys = (await client.get("/api/api_keys/keys", headers=admin.headers)).json()
    assert [k["id"] for k in keys["items"]] == [own_key["id"]]
    assert outsider_key["id"] not in [k["id"] for k in keys["items"]]


async def test_filtering_users_by_a_foreign_id_finds_nothing(
    client: httpx.AsyncClient, admin: Account, outsider: Account
) -> None:
    by_id = await client.get("/api/auth/users", params={"id": str(outsider.user_id)}, headers=admin.headers)
    assert by_id.json()["items"] == []
    by_org = await client.get(
        "/api/auth/users", params={"organizationId": str(outsider.organization_id)}, headers=admin.headers
    )
    assert by_org.json()["items"] == []
    by_role = await client.get(
        "/api/auth/users", params={"roleIds": await role_id(client, outsider, "admin")}, headers=admin.headers
    )
    assert by_role.json()["items"] == []


async def test_tenant_admin_naming_another_tenant_in_roles_list_gets_404(
    client: httpx.AsyncClient, admin: Account, outsider: Account
) -> None:
    response = await client.get("/api/auth/roles", params={"tenantId": str(outsider.tenant_id)}, headers=admin.headers)
    assert response.status_code == 404


async def test_super_admin_may_list_another_tenants_roles(
    client: httpx.AsyncClient, superadmin: Account, outsider: Account
) -> None:
    response = await client.get(
        "/api/auth/roles", params={"tenantId": str(outsider.tenant_id)}, headers=superadmin.headers
    )
    assert response.status_code == 200
    assert {r["tenantId"] for r in response.json()["items"]} == {str(outsider.tenant_id)}
    assert sorted(r["name"] for r in response.json()["items"]) == ["admin", "consumer", "employee", "superadmin"]


async def test_super_admin_lists_every_tenant_while_a_tenant_viewer_sees_only_its_own(
    client: httpx.AsyncClient, superadmin: Account, admin: Account
) -> None:
    # tenants.view is a platform feature: only a super admin can hand it to a tenant admin
    granted = await client.put(
        "/api/auth/users/acl",
        json={"userId": str(admin.user_id), "features": ["auth.*", "directory.tenants.view"]},
        headers=superadmin.headers,
    )
    assert granted.json() == {"ok": True, "sanitized": False}

    everyone = await client.get("/api/directory/tenants", headers=superadmin.headers)
    assert everyone.json()["total"] >= 2
    for tenant in (superadmin.tenant_id, admin.tenant_id):
        found = await client.get("/api/directory/tenants", params={"id": str(tenant)}, headers=superadmin.headers)
        assert [t["id"] for t in found.json()["items"]] == [str(tenant)]

    own = await client.get("/api/directory/tenants", headers=admin.headers)
    assert own.status_code == 200
    assert [t["id"] for t in own.json()["items"]] == [str(admin.tenant_id)]
    assert own.json()["total"] == 1
    foreign = await client.get(
        "/api/directory/tenants", params={"id": str(superadmin.tenant_id)}, headers=admin.headers
    )
    assert foreign.json()["items"] == []


async def test_super_admin_can_manage_another_tenants_user(
    client: httpx.AsyncClient, superadmin: Account, outsider: Account
) -> None:
    response = await client.put(
        "/api/auth/users", json={"id": str(outsider.user_id), "name": "Renamed by root"}, headers=superadmin.headers
    )
    assert response.status_code == 200
    assert (await client.get("/api/auth/profile", headers=outsider.headers)).json()["name"] == "Renamed by root"


async def test_user_of_a_deleted_tenant_loses_access(
    client: httpx.AsyncClient, superadmin: Account, outsider: Account
) -> None:
    deleted = await client.request(
        "DELETE", "/api/directory/tenants", json={"id": str(outsider.tenant_id)}, headers=superadmin.headers
    )
    assert deleted.status_code == 200
    assert (await client.get("/api/auth/profile", headers=outsider.headers)).status_code == 401
    login = await client.post("/api/auth/login", data={"email": outsider.email, "password": PASSWORD})
    assert login.status_code == 403
