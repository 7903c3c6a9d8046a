"""No self-lockout: nobody removes their own right to manage users and roles, and a tenant's last
administrator or last super admin cannot be demoted, deactivated or deleted (409, nothing changed)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Account, MakeAccount
from tests.helpers import role_id


async def _user(client: httpx.AsyncClient, caller: Account, target: Account) -> dict[str, Any]:
    response = await client.get("/api/auth/users", params={"id": str(target.user_id)}, headers=caller.headers)
    assert response.status_code == 200, response.text
    [user] = response.json()["items"]
    return dict(user)


async def _refused(response: httpx.Response) -> None:
    assert response.status_code == 409, response.text
    assert response.json()["error"]


async def test_removing_your_own_roles_is_refused(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    admin = await make_account("admin")
    await make_account("admin", tenant_id=admin.tenant_id)  # another admin does not make it safe
    response = await client.put("/api/auth/users", json={"id": str(admin.user_id), "roles": []}, headers=admin.headers)
    await _refused(response)
    assert "your own right" in response.json()["error"]
    assert (await _user(client, admin, admin))["roles"] == ["admin"]


async def test_swapping_your_roles_for_one_that_keeps_the_rights_is_allowed(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    admin = await make_account("admin", "employee")
    response = await client.put(
        "/api/auth/users", json={"id": str(admin.user_id), "roles": ["admin"]}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert (await _user(client, admin, admin))["roles"] == ["admin"]


async def test_an_empty_own_acl_is_refused(client: httpx.AsyncClient, admin: Account) -> None:
    body = {"userId": str(admin.user_id), "features": []}
    await _refused(await client.put("/api/auth/users/acl", json=body, headers=admin.headers))
    acl = await client.get("/api/auth/users/acl", params={"userId": str(admin.user_id)}, headers=admin.headers)
    assert acl.json()["hasCustomAcl"] is False


async def test_emptying_your_own_roles_acl_is_refused(client: httpx.AsyncClient, admin: Account) -> None:
    admin_role = await role_id(client, admin, "admin")
    before = await client.get("/api/auth/roles/acl", params={"roleId": admin_role}, headers=admin.headers)
    response = await client.put(
        "/api/auth/roles/acl", json={"roleId": admin_role, "features": ["auth.users.list"]}, headers=admin.headers
    )
    await _refused(response)
    after = await client.get("/api/auth/roles/acl", params={"roleId": admin_role}, headers=admin.headers)
    assert after.json() == before.json()
    assert (await client.get("/api/auth/users", headers=admin.headers)).status_code == 200


async def test_the_last_tenant_admin_cannot_be_deactivated_deleted_or_demoted(
    client: httpx.AsyncClient, make_account: MakeAccount, superadmin: Account
) -> None:
    tenant_admin = await make_account("admin")
    target = {"id": str(tenant_admin.user_id)}
    await _refused(await client.put("/api/auth/users", json={**target, "isActive": False}, headers=superadmin.headers))
    await _refused(await client.put("/api/auth/users", json={**target, "roles": []}, headers=superadmin.headers))
    await _refused(await client.delete("/api/auth/users", params=target, headers=superadmin.headers))
    acl = {"userId": str(tenant_admin.user_id), "features": ["auth.users.list"]}
    await _refused(await client.put("/api/auth/users/acl", json=acl, headers=superadmin.headers))
    user = await _user(client, tenant_admin, tenant_admin)
    assert user["isActive"] is True and user["roles"] == ["admin"]
    assert (await client.get("/api/auth/users", headers=tenant_admin.headers)).status_code == 200

    # With a second administrator in the tenant, the first one may go.
    await make_account("admin", tenant_id=tenant_admin.tenant_id)
    response = await client.put("/api/auth/users", json={**target, "isActive": False}, headers=superadmin.headers)
    assert response.status_code == 200, response.text
    assert (await client.get("/api/auth/users", headers=tenant_admin.headers)).status_code == 401


async def test_the_last_super_admin_cannot_be_demoted_deactivated_or_deleted(
    client: httpx.AsyncClient, make_account: MakeAccount, superadmin: Account
) -> None:
    other = await make_account("superadmin", "admin")  # the only super admin of its tenant
    await make_account("admin", tenant_id=other.tenant_id)  # so only the super admin rule applies
    target = {"id": str(other.user_id)}
    await _refused(await client.put("/api/auth/users", json={**target, "roles": ["admin"]}, headers=superadmin.headers))
    await _refused(await client.put("/api/auth/users", json={**target, "isActive": False}, headers=superadmin.headers))
    await _refused(await client.delete("/api/auth/users", params=target, headers=superadmin.headers))
    super_role = await role_id(client, other, "superadmin")
    demote = {"roleId": super_role, "isSuperAdmin": False}
    response = await client.put("/api/auth/roles/acl", json=demote, headers=superadmin.headers)
    await _refused(response)
    assert "super admin" in response.json()["error"]
    assert sorted((await _user(client, other, other))["roles"]) == ["admin", "superadmin"]
    features = await client.get("/api/auth/features", headers=other.headers)
    assert features.status_code == 200

    # A second super admin in that tenant makes the first one removable.
    await make_account("superadmin", tenant_id=other.tenant_id)
    response = await client.delete("/api/auth/users", params=target, headers=superadmin.headers)
    assert response.status_code == 200, response.text


async def test_you_cannot_deactivate_or_delete_yourself(client: httpx.AsyncClient, superadmin: Account) -> None:
    me = {"id": str(superadmin.user_id)}
    await _refused(await client.put("/api/auth/users", json={**me, "isActive": False}, headers=superadmin.headers))
    await _refused(await client.delete("/api/auth/users", params=me, headers=superadmin.headers))
    assert (await client.get("/api/auth/profile", headers=superadmin.headers)).status_code == 200
