"""Feature-based access: what each role may do, wildcards, per-user overrides, and who may hand out
which grants."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import PASSWORD, Account, MakeAccount
from tests.helpers import create_organization, create_user, nothing_written, role_id

DENIED = [
    ("employee", "POST", "/api/auth/users", {"email": "x@covo.test", "password": "long-enough-1"}, "auth.users.create"),
    ("employee", "POST", "/api/auth/roles", {"name": "sneaky"}, "auth.roles.manage"),
    ("employee", "POST", "/api/api_keys/keys", {"name": "sneaky"}, "api_keys.create"),
    ("employee", "GET", "/api/auth/features", None, "auth.acl.manage"),
    ("employee", "GET", "/api/api_keys/keys", None, "api_keys.view"),
    ("employee", "POST", "/api/directory/organizations", {"name": "Nope"}, "directory.organizations.manage"),
    ("consumer", "GET", "/api/auth/users", None, "auth.users.list"),
    ("consumer", "GET", "/api/auth/roles", None, "auth.roles.list"),
    ("consumer", "POST", "/api/auth/users", {"email": "y@covo.test", "password": "long-enough-1"}, "auth.users.create"),
    ("consumer", "GET", "/api/directory/organizations", None, "directory.organizations.view"),
    ("admin", "GET", "/api/directory/tenants", None, "directory.tenants.view"),
    ("admin", "POST", "/api/directory/tenants", {"name": "Mine now"}, "directory.tenants.manage"),
]


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "feature"), DENIED, ids=[f"{d[0]} {d[1]} {d[2]}" for d in DENIED]
)
async def test_role_without_the_feature_gets_403_naming_it(
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    feature: str,
) -> None:
    account = await make_account(role)
    response = await client.request(method, path, json=body, headers=account.headers)
    assert response.status_code == 403
    assert response.json() == {"error": "Forbidden", "requiredFeatures": [feature]}


async def test_forbidden_create_leaves_nothing_behind(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    email = "never-created@covo.test"
    denied = await client.post("/api/auth/users", json={"email": email}, headers=employee.headers)
    assert denied.status_code == 403
    listed = await client.get("/api/auth/users", params={"search": "never-created"}, headers=admin.headers)
    assert listed.json()["total"] == 0


async def test_employee_can_use_what_its_role_grants(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    employee = await make_account("employee")
    assert (await client.get("/api/auth/users", headers=employee.headers)).status_code == 200
    assert (await client.get("/api/auth/roles", headers=employee.headers)).status_code == 200
    assert (await client.get("/api/directory/organizations", headers=employee.headers)).status_code == 200


async def test_wildcard_grant_satisfies_every_feature_of_its_module(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    created = await client.post("/api/auth/roles", json={"name": "auth-operators"}, headers=admin.headers)
    assert created.status_code == 201
    role = created.json()["id"]
    acl = await client.put("/api/auth/roles/acl", json={"roleId": role, "features": ["auth.*"]}, headers=admin.headers)
    assert acl.json() == {"ok": True, "sanitized": False}
    operator = await make_account("auth-operators", tenant_id=admin.tenant_id)

    assert (await client.get("/api/auth/features", headers=operator.headers)).status_code == 200
    assert (
        await client.get("/api/auth/roles/acl", params={"roleId": role}, headers=operator.headers)
    ).status_code == 200
    new_user = await client.post(
        "/api/auth/users", json={"email": f"by-operator-{uuid.uuid4().hex[:8]}@covo.test"}, headers=operator.headers
    )
    assert new_user.status_code == 201
    # ...but nothing outside the `auth.` prefix
    outside = await client.get("/api/directory/organizations", headers=operator.headers)
    assert outside.status_code == 403
    assert outside.json()["requiredFeatures"] == ["directory.organizations.view"]


async def test_role_acl_change_applies_to_existing_sessions_at_once(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    assert (await client.get("/api/auth/users", headers=employee.headers)).status_code == 200
    role = await role_id(client, admin, "employee")
    await client.put("/api/auth/roles/acl", json={"roleId": role, "features": []}, headers=admin.headers)
    assert (await client.get("/api/auth/users", headers=employee.headers)).status_code == 403


async def test_user_acl_override_replaces_role_grants(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    put = await client.put(
        "/api/auth/users/acl",
        json={"userId": str(employee.user_id), "features": ["api_keys.view"]},
        headers=admin.headers,
    )
    assert put.json() == {"ok": True, "sanitized": False}
    acl = await client.get("/api/auth/users/acl", params={"userId": str(employee.user_id)}, headers=admin.headers)
    assert acl.json() == {
        "hasCustomAcl": True,
        "isSuperAdmin": False,
        "features": ["api_keys.view"],
        "organizations": None,
    }

    assert (await client.get("/api/api_keys/keys", headers=employee.headers)).status_code == 200
    # the employee role's own grant (auth.users.list) no longer applies
    assert (await client.get("/api/auth/users", headers=employee.headers)).status_code == 403


async def test_clearing_user_acl_restores_role_grants(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    user = str(employee.user_id)
    await client.put("/api/auth/users/acl", json={"userId": user, "features": []}, headers=admin.headers)
    assert (await client.get("/api/auth/users", headers=employee.headers)).status_code == 403

    cleared = await client.put(
        "/api/auth/users/acl", json={"userId": user, "hasCustomAcl": False}, headers=admin.headers
    )
    assert cleared.status_code == 200
    acl = (await client.get("/api/auth/users/acl", params={"userId": user}, headers=admin.headers)).json()
    assert acl["hasCustomAcl"] is False
    assert "auth.users.list" in acl["features"]
    assert (await client.get("/api/auth/users", headers=employee.headers)).status_code == 200


async def test_feature_check_answers_per_feature(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    employee = await make_account("employee")
    response = await client.post(
        "/api/auth/feature-check",
        json={"features": ["auth.users.list", "auth.users.create", "directory.organizations.view"]},
        headers=employee.headers,
    )
    assert response.status_code == 200
    assert response.json() == {
        "ok": False,
        "granted": ["auth.users.list", "directory.organizations.view"],
        "userId": str(employee.user_id),
    }


async def test_feature_check_is_ok_when_everything_is_granted(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.post(
        "/api/auth/feature-check", json={"features": ["auth.users.create", "api_keys.delete"]}, headers=admin.headers
    )
    assert response.json() == {
        "ok": True,
        "granted": ["auth.users.create", "api_keys.delete"],
        "userId": str(admin.user_id),
    }


async def test_super_admin_holds_every_feature(client: httpx.AsyncClient, superadmin: Account) -> None:
    response = await client.post(
        "/api/auth/feature-check", json={"features": ["directory.tenants.manage"]}, headers=superadmin.headers
    )
    assert response.json()["granted"] == ["directory.tenants.manage"]


async def test_feature_catalog_lists_declared_features_with_their_module(
    client: httpx.AsyncClient, admin: Account
) -> None:
    response = await client.get("/api/auth/features", headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert {"id": "auth.users.list", "title": "List users", "module": "auth"} in body["items"]
    assert {"id": "api_keys.create", "title": "Create API keys", "module": "api_keys"} in body["items"]
    assert {m["id"] for m in body["modules"]} >= {"auth", "directory", "api_keys"}
    assert {item["module"] for item in body["items"]} <= {m["id"] for m in body["modules"]}


async def test_tenant_admin_cannot_grant_super_admin_to_a_role(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    role = await role_id(client, admin, "employee")
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.put(
            "/api/auth/roles/acl", json={"roleId": role, "isSuperAdmin": True}, headers=admin.headers
        )
        assert response.status_code == 403
    acl = await client.get("/api/auth/roles/acl", params={"roleId": role}, headers=admin.headers)
    assert acl.json()["isSuperAdmin"] is False


async def test_tenant_admin_cannot_grant_super_admin_to_a_user(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.put(
            "/api/auth/users/acl",
            json={"userId": str(employee.user_id), "isSuperAdmin": True, "features": []},
            headers=admin.headers,
        )
        assert response.status_code == 403
    acl = await client.get("/api/auth/users/acl", params={"userId": str(employee.user_id)}, headers=admin.headers)
    assert acl.json()["hasCustomAcl"] is False
    assert acl.json()["isSuperAdmin"] is False


async def test_tenant_admin_cannot_assign_the_superadmin_role(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.post(
        "/api/auth/users", json={"email": "wannabe-root@covo.test", "roles": ["superadmin"]}, headers=admin.headers
    )
    assert response.status_code == 403
    listed = await client.get("/api/auth/users", params={"search": "wannabe-root"}, headers=admin.headers)
    assert listed.json()["total"] == 0


async def test_features_the_granter_does_not_hold_are_dropped(client: httpx.AsyncClient, admin: Account) -> None:
    role = await role_id(client, admin, "employee")
    response = await client.put(
        "/api/auth/roles/acl",
        json={"roleId": role, "features": ["auth.users.list", "directory.tenants.manage", "no.such.feature"]},
        headers=admin.headers,
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "sanitized": True}
    acl = await client.get("/api/auth/roles/acl", params={"roleId": role}, headers=admin.headers)
    assert acl.json()["features"] == ["auth.users.list"]


async def test_features_dropped_from_a_user_acl_too(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    response = await client.put(
        "/api/auth/users/acl",
        json={"userId": str(employee.user_id), "features": ["directory.tenants.view", "api_keys.view"]},
        headers=admin.headers,
    )
    assert response.json() == {"ok": True, "sanitized": True}
    acl = await client.get("/api/auth/users/acl", params={"userId": str(employee.user_id)}, headers=admin.headers)
    assert acl.json()["features"] == ["api_keys.view"]


async def test_super_admin_may_grant_platform_features(
    client: httpx.AsyncClient, superadmin: Account, make_account: MakeAccount
) -> None:
    employee = await make_account("employee", tenant_id=superadmin.tenant_id)
    response = await client.put(
        "/api/auth/users/acl",
        json={"userId": str(employee.user_id), "features": ["directory.tenants.view"]},
        headers=superadmin.headers,
    )
    assert response.json() == {"ok": True, "sanitized": False}
    assert (await client.get("/api/directory/tenants", headers=employee.headers)).status_code == 200


async def test_user_without_roles_holds_no_features(client: httpx.AsyncClient, admin: Account) -> None:
    email = f"plain-{uuid.uuid4().hex[:8]}@covo.test"
    user = await create_user(client, admin, email=email, roles=[])
    acl = (await client.get("/api/auth/users/acl", params={"userId": user}, headers=admin.headers)).json()
    assert (acl["hasCustomAcl"], acl["isSuperAdmin"], acl["features"]) == (False, False, [])
    login = await client.post("/api/auth/login", data={"email": email, "password": "another-secret-1"})
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    assert (await client.get("/api/auth/users", headers=headers)).status_code == 403
    assert (await client.post("/api/auth/roles", json={"name": "x"}, headers=headers)).status_code == 403
    roles = (await client.get("/api/auth/roles", params={"search": "x"}, headers=admin.headers)).json()["items"]
    assert "x" not in [r["name"] for r in roles]  # refused: not written


async def test_user_editor_cannot_promote_itself_into_a_role_with_more_features(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    role = (await client.post("/api/auth/roles", json={"name": "user-editors"}, headers=admin.headers)).json()["id"]
    await client.put(
        "/api/auth/roles/acl",
        json={"roleId": role, "features": ["auth.users.list", "auth.users.edit"]},
        headers=admin.headers,
    )
    editor = await make_account("user-editors", tenant_id=admin.tenant_id)
    response = await client.put(
        "/api/auth/users", json={"id": str(editor.user_id), "roles": ["admin"]}, headers=editor.headers
    )
    assert response.status_code == 403
    assert (await client.get("/api/auth/profile", headers=editor.headers)).json()["roles"] == ["user-editors"]
    assert (await client.get("/api/auth/features", headers=editor.headers)).status_code == 403
    # roles within the editor's own grants may still be handed out
    colleague = await make_account("consumer", tenant_id=admin.tenant_id)
    allowed = await client.put(
        "/api/auth/users", json={"id": str(colleague.user_id), "roles": ["user-editors"]}, headers=editor.headers
    )
    assert allowed.status_code == 200


async def test_tenant_admin_cannot_take_over_a_super_admin_account(
    client: httpx.AsyncClient,
    superadmin: Account,
    make_account: MakeAccount,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    admin = await make_account("admin", tenant_id=superadmin.tenant_id)
    root = str(superadmin.user_id)
    async with nothing_written(sessionmaker, superadmin.tenant_id):
        for body in ({"id": root, "password": "taken-over-now"}, {"id": root, "email": "mine@covo.test"}):
            response = await client.put("/api/auth/users", json=body, headers=admin.headers)
            assert response.status_code == 403, body
        assert (
            await client.put("/api/auth/users", json={"id": root, "isActive": False}, headers=admin.headers)
        ).status_code == 403
        assert (await client.delete("/api/auth/users", params={"id": root}, headers=admin.headers)).status_code == 403
        demote = await client.put("/api/auth/users/acl", json={"userId": root, "features": []}, headers=admin.headers)
        assert demote.status_code == 403
    login = await client.post("/api/auth/login", data={"email": superadmin.email, "password": PASSWORD})
    assert login.status_code == 200
    check = await client.post(
        "/api/auth/feature-check", json={"features": ["directory.tenants.manage"]}, headers=superadmin.headers
    )
    assert check.json()["ok"] is True


async def test_tenant_admin_cannot_strip_super_admin_from_a_role(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    role = await role_id(client, admin, "superadmin")
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.put(
            "/api/auth/roles/acl", json={"roleId": role, "isSuperAdmin": False}, headers=admin.headers
        )
        assert response.status_code == 403
    acl = await client.get("/api/auth/roles/acl", params={"roleId": role}, headers=admin.headers)
    assert acl.json()["isSuperAdmin"] is True


async def test_organization_scoped_grants_reach_only_that_subtree(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    branch = await create_organization(client, admin, "Branch", parent=str(admin.organization_id))
    desk = await create_organization(client, admin, "Desk", parent=branch)
    role = (await client.post("/api/auth/roles", json={"name": "branch-managers"}, headers=admin.headers)).json()["id"]
    await client.put(
        "/api/auth/roles/acl",
        json={"roleId": role, "features": ["directory.organizations.*"], "organizations": [branch]},
        headers=admin.headers,
    )
    manager = await make_account("branch-managers", tenant_id=admin.tenant_id)

    listed = await client.get("/api/directory/organizations", headers=manager.headers)
    assert {o["id"] for o in listed.json()["items"]} == {branch, desk}
    inside = await client.put(
        "/api/directory/organizations", json={"id": desk, "name": "Desk 2"}, headers=manager.headers
    )
    assert inside.status_code == 200
    outside = await client.put(
        "/api/directory/organizations", json={"id": str(admin.organization_id), "name": "Mine"}, headers=manager.headers
    )
    assert outside.status_code == 404
    removed = await client.request(
        "DELETE", "/api/directory/organizations", json={"id": str(admin.organization_id)}, headers=manager.headers
    )
    assert removed.status_code == 404
    names = {
        o["name"] for o in (await client.get("/api/directory/organizations", headers=admin.headers)).json()["items"]
    }
    assert names == {"Main", "Branch", "Desk 2"}
