"""Directory: tenants (platform administration), the public tenant lookup, organization trees and
the organization switcher."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import Tenant
from tests.conftest import Account, MakeAccount
from tests.helpers import anonymous, count_rows, create_organization, create_user, nothing_written


async def _tenant(client: httpx.AsyncClient, superadmin: Account, name: str) -> str:
    response = await client.post("/api/directory/tenants", json={"name": name}, headers=superadmin.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _get_tenant(client: httpx.AsyncClient, superadmin: Account, tenant: str) -> list[dict[str, Any]]:
    response = await client.get("/api/directory/tenants", params={"id": tenant}, headers=superadmin.headers)
    assert response.status_code == 200
    return list(response.json()["items"])


async def _orgs(client: httpx.AsyncClient, account: Account, **params: Any) -> dict[str, dict[str, Any]]:
    response = await client.get("/api/directory/organizations", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return {o["id"]: o for o in response.json()["items"]}


async def _move(client: httpx.AsyncClient, account: Account, org: str, parent: str | None) -> httpx.Response:
    return await client.put(
        "/api/directory/organizations", json={"id": org, "parentId": parent}, headers=account.headers
    )


async def _delete_org(client: httpx.AsyncClient, account: Account, org: str) -> httpx.Response:
    return await client.request("DELETE", "/api/directory/organizations", json={"id": org}, headers=account.headers)


# ---------------------------------------------------------------- tenants


async def test_new_tenant_comes_with_the_four_standard_roles(client: httpx.AsyncClient, superadmin: Account) -> None:
    response = await client.post("/api/directory/tenants", json={"name": "Acme"}, headers=superadmin.headers)
    assert response.status_code == 201
    assert set(response.json()) == {"id"}
    tenant = response.json()["id"]
    [row] = await _get_tenant(client, superadmin, tenant)
    assert (row["name"], row["isActive"]) == ("Acme", True)
    assert row["createdAt"] and set(row) == {"id", "name", "isActive", "createdAt", "updatedAt"}

    roles = await client.get("/api/auth/roles", params={"tenantId": tenant}, headers=superadmin.headers)
    assert sorted(r["name"] for r in roles.json()["items"]) == ["admin", "consumer", "employee", "superadmin"]
    admin_role = next(r["id"] for r in roles.json()["items"] if r["name"] == "admin")
    acl = await client.get("/api/auth/roles/acl", params={"roleId": admin_role}, headers=superadmin.headers)
    assert "auth.*" in acl.json()["features"]


async def test_updating_a_tenant(client: httpx.AsyncClient, superadmin: Account) -> None:
    tenant = await _tenant(client, superadmin, "Before")
    response = await client.put(
        "/api/directory/tenants", json={"id": tenant, "name": "After", "isActive": False}, headers=superadmin.headers
    )
    assert response.json() == {"ok": True}
    [row] = await _get_tenant(client, superadmin, tenant)
    assert (row["name"], row["isActive"]) == ("After", False)


async def test_users_of_a_deactivated_tenant_lose_access(
    client: httpx.AsyncClient, superadmin: Account, make_account: MakeAccount
) -> None:
    member = await make_account("admin")
    await client.put(
        "/api/directory/tenants", json={"id": str(member.tenant_id), "isActive": False}, headers=superadmin.headers
    )
    assert (await client.get("/api/auth/profile", headers=member.headers)).status_code == 401


async def test_deleting_a_tenant_removes_it_from_lists_and_lookup(
    client: httpx.AsyncClient, superadmin: Account
) -> None:
    tenant = await _tenant(client, superadmin, "Doomed")
    response = await client.request("DELETE", "/api/directory/tenants", json={"id": tenant}, headers=superadmin.headers)
    assert response.json() == {"ok": True}
    assert await _get_tenant(client, superadmin, tenant) == []
    assert (await client.get("/api/directory/tenants/lookup", params={"tenantId": tenant})).status_code == 404
    again = await client.request("DELETE", "/api/directory/tenants", json={"id": tenant}, headers=superadmin.headers)
    assert again.status_code == 404


async def test_super_admin_cannot_delete_or_deactivate_its_own_tenant(
    client: httpx.AsyncClient, superadmin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    own = str(superadmin.tenant_id)
    async with nothing_written(sessionmaker, superadmin.tenant_id):
        deleted = await client.request("DELETE", "/api/directory/tenants", json={"id": own}, headers=superadmin.headers)
        assert deleted.status_code == 400
        deactivated = await client.put(
            "/api/directory/tenants", json={"id": own, "isActive": False}, headers=superadmin.headers
        )
        assert deactivated.status_code == 400
    assert (await client.get("/api/auth/profile", headers=superadmin.headers)).status_code == 200


async def test_invalid_tenant_writes_are_rejected(
    client: httpx.AsyncClient, superadmin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    tenants = await count_rows(sessionmaker, Tenant)
    async with nothing_written(sessionmaker, superadmin.tenant_id):
        blank = await client.post("/api/directory/tenants", json={"name": " "}, headers=superadmin.headers)
        assert blank.status_code == 400
        unknown = await client.put(
            "/api/directory/tenants", json={"id": str(uuid.uuid4()), "name": "x"}, headers=superadmin.headers
        )
        assert unknown.status_code == 404
        no_id = await client.request("DELETE", "/api/directory/tenants", json={}, headers=superadmin.headers)
        assert no_id.status_code == 400
    assert await count_rows(sessionmaker, Tenant) == tenants


async def test_tenants_list_searches_sorts_and_pages(client: httpx.AsyncClient, superadmin: Account) -> None:
    tag = uuid.uuid4().hex[:8]
    for letter in "BCA":
        await _tenant(client, superadmin, f"{tag} {letter}")
    params = {"search": tag.upper(), "sortField": "name", "sortDir": "desc", "pageSize": 2}
    first = await client.get("/api/directory/tenants", params=params, headers=superadmin.headers)
    body = first.json()
    assert {k: body[k] for k in ("total", "page", "pageSize", "totalPages")} == {
        "total": 3, "page": 1, "pageSize": 2, "totalPages": 2,
    }  # fmt: skip
    assert [t["name"] for t in body["items"]] == [f"{tag} C", f"{tag} B"]
    second = await client.get("/api/directory/tenants", params={**params, "page": 2}, headers=superadmin.headers)
    assert [t["name"] for t in second.json()["items"]] == [f"{tag} A"]
    ascending = await client.get(
        "/api/directory/tenants", params={"search": tag, "sortField": "name"}, headers=superadmin.headers
    )
    assert [t["name"] for t in ascending.json()["items"]] == [f"{tag} A", f"{tag} B", f"{tag} C"]


async def test_tenants_list_filters_by_active_state(client: httpx.AsyncClient, superadmin: Account) -> None:
    tag = uuid.uuid4().hex[:8]
    await _tenant(client, superadmin, f"{tag} live")
    sleeping = await _tenant(client, superadmin, f"{tag} asleep")
    await client.put("/api/directory/tenants", json={"id": sleeping, "isActive": False}, headers=superadmin.headers)
    inactive = await client.get(
        "/api/directory/tenants", params={"search": tag, "isActive": "false"}, headers=superadmin.headers
    )
    assert [t["name"] for t in inactive.json()["items"]] == [f"{tag} asleep"]
    active = await client.get(
        "/api/directory/tenants", params={"search": tag, "isActive": "true"}, headers=superadmin.headers
    )
    assert [t["name"] for t in active.json()["items"]] == [f"{tag} live"]


async def test_unknown_sort_field_is_400(client: httpx.AsyncClient, superadmin: Account) -> None:
    response = await client.get("/api/directory/tenants", params={"sortField": "secret"}, headers=superadmin.headers)
    assert response.status_code == 400


async def test_tenant_admin_cannot_create_tenants(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    tenants = await count_rows(sessionmaker, Tenant)
    response = await client.post("/api/directory/tenants", json={"name": "Breakaway"}, headers=admin.headers)
    assert response.status_code == 403
    assert await count_rows(sessionmaker, Tenant) == tenants


# ---------------------------------------------------------------- tenant lookup


async def test_tenant_lookup_is_public_and_shows_only_id_and_name(client: httpx.AsyncClient, admin: Account) -> None:
    response = await anonymous(client).get("/api/directory/tenants/lookup", params={"tenantId": str(admin.tenant_id)})
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["tenant"]) == {"id", "name"}
    assert body["tenant"]["id"] == str(admin.tenant_id)


async def test_tenant_lookup_of_unknown_tenant_is_404(client: httpx.AsyncClient) -> None:
    response = await anonymous(client).get("/api/directory/tenants/lookup", params={"tenantId": str(uuid.uuid4())})
    assert response.status_code == 404
    assert "error" in response.json()


async def test_tenant_lookup_without_a_valid_id_is_400(client: httpx.AsyncClient) -> None:
    assert (await anonymous(client).get("/api/directory/tenants/lookup")).status_code == 400
    garbage = await client.get("/api/directory/tenants/lookup", params={"tenantId": "not-a-uuid"})
    assert garbage.status_code == 400


# ---------------------------------------------------------------- organizations


async def test_organization_tree_paths_and_depths(client: httpx.AsyncClient, admin: Account) -> None:
    root = str(admin.organization_id)
    child = await create_organization(client, admin, "Sales", parent=root)
    grandchild = await create_organization(client, admin, "Sales EU", parent=child)
    orgs = await _orgs(client, admin)
    assert (orgs[root]["treePath"], orgs[root]["depth"], orgs[root]["parentId"]) == (root, 0, None)
    assert orgs[child]["treePath"] == f"{root}/{child}"
    assert (orgs[child]["depth"], orgs[child]["parentId"], orgs[child]["parentName"]) == (1, root, "Main")
    assert orgs[grandchild]["treePath"] == f"{root}/{child}/{grandchild}"
    assert (orgs[grandchild]["depth"], orgs[grandchild]["rootId"]) == (2, root)
    assert {o["tenantId"] for o in orgs.values()} == {str(admin.tenant_id)}


async def test_tree_view_nests_children(client: httpx.AsyncClient, admin: Account) -> None:
    root = str(admin.organization_id)
    child = await create_organization(client, admin, "Ops", parent=root)
    grandchild = await create_organization(client, admin, "Ops Night", parent=child)
    other_root = await create_organization(client, admin, "Holding")
    response = await client.get("/api/directory/organizations", params={"view": "tree"}, headers=admin.headers)
    roots = {node["id"]: node for node in response.json()["items"]}
    assert set(roots) == {root, other_root}
    [child_node] = roots[root]["children"]
    assert child_node["id"] == child
    assert [n["id"] for n in child_node["children"]] == [grandchild]
    assert child_node["children"][0]["children"] == []
    assert roots[other_root]["children"] == []


async def test_moving_an_organization_reroots_its_subtree(client: httpx.AsyncClient, admin: Account) -> None:
    root = str(admin.organization_id)
    child = await create_organization(client, admin, "Team", parent=root)
    grandchild = await create_organization(client, admin, "Squad", parent=child)
    new_root = await create_organization(client, admin, "Spin-off")
    assert (await _move(client, admin, child, new_root)).json() == {"ok": True}
    orgs = await _orgs(client, admin)
    assert (orgs[child]["treePath"], orgs[child]["rootId"], orgs[child]["depth"]) == (
        f"{new_root}/{child}", new_root, 1,
    )  # fmt: skip
    assert (orgs[grandchild]["treePath"], orgs[grandchild]["rootId"], orgs[grandchild]["depth"]) == (
        f"{new_root}/{child}/{grandchild}", new_root, 2,
    )  # fmt: skip
    assert (await _move(client, admin, child, None)).status_code == 200
    orgs = await _orgs(client, admin)
    assert (orgs[child]["treePath"], orgs[child]["depth"], orgs[child]["parentId"]) == (child, 0, None)
    assert (orgs[grandchild]["treePath"], orgs[grandchild]["rootId"]) == (f"{child}/{grandchild}", child)


async def test_moving_an_organization_under_its_own_descendant_is_400(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    root = str(admin.organization_id)
    child = await create_organization(client, admin, "Parent", parent=root)
    grandchild = await create_organization(client, admin, "Kid", parent=child)
    async with nothing_written(sessionmaker, admin.tenant_id):
        assert (await _move(client, admin, child, grandchild)).status_code == 400
        assert (await _move(client, admin, child, child)).status_code == 400
        assert (await _move(client, admin, root, grandchild)).status_code == 400
    orgs = await _orgs(client, admin)
    assert orgs[child]["treePath"] == f"{root}/{child}"


async def test_organization_with_children_cannot_be_deleted(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    parent = await create_organization(client, admin, "Parent")
    await create_organization(client, admin, "Child", parent=parent)
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await _delete_org(client, admin, parent)
        assert response.status_code == 400
    assert parent in await _orgs(client, admin)


async def test_deleting_an_organization_detaches_its_users(client: httpx.AsyncClient, admin: Account) -> None:
    leaf = await create_organization(client, admin, "Leaf")
    user = await create_user(client, admin, organizationId=leaf)
    assert (await _delete_org(client, admin, leaf)).json() == {"ok": True}
    assert leaf not in await _orgs(client, admin)
    listed = await client.get("/api/auth/users", params={"id": user}, headers=admin.headers)
    assert listed.json()["items"][0]["organizationId"] is None
    assert (await _delete_org(client, admin, leaf)).status_code == 404


async def test_renaming_and_deactivating_an_organization(client: httpx.AsyncClient, admin: Account) -> None:
    org = await create_organization(client, admin, "Draft")
    response = await client.put(
        "/api/directory/organizations", json={"id": org, "name": "Final", "isActive": False}, headers=admin.headers
    )
    assert response.status_code == 200
    assert org not in await _orgs(client, admin)
    everything = await _orgs(client, admin, includeInactive="true")
    assert (everything[org]["name"], everything[org]["isActive"]) == ("Final", False)
    assert list(await _orgs(client, admin, status="inactive")) == [org]


async def test_organizations_list_pages_filters_and_searches(client: httpx.AsyncClient, admin: Account) -> None:
    made = [await create_organization(client, admin, f"Unit {n}") for n in range(3)]
    paged = await client.get("/api/directory/organizations", params={"page": 2, "pageSize": 3}, headers=admin.headers)
    body = paged.json()
    assert (body["total"], body["totalPages"], body["page"], body["pageSize"], len(body["items"])) == (4, 2, 2, 3, 1)
    assert set(await _orgs(client, admin, ids=f"{made[0]},{made[2]}")) == {made[0], made[2]}
    assert set(await _orgs(client, admin, search="unit 1")) == {made[1]}


async def test_invalid_organization_requests_are_400(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        assert (
            await client.post("/api/directory/organizations", json={"name": ""}, headers=admin.headers)
        ).status_code == 400
    bad_view = await client.get("/api/directory/organizations", params={"view": "cube"}, headers=admin.headers)
    assert bad_view.status_code == 400
    bad_ids = await client.get("/api/directory/organizations", params={"ids": "nope"}, headers=admin.headers)
    assert bad_ids.status_code == 400


async def test_employee_sees_but_cannot_change_organizations(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    assert str(admin.organization_id) in await _orgs(client, employee)
    async with nothing_written(sessionmaker, admin.tenant_id):
        rename = {"id": str(admin.organization_id), "name": "x"}
        response = await client.put("/api/directory/organizations", json=rename, headers=employee.headers)
        assert response.status_code == 403


# ---------------------------------------------------------------- organization switcher


async def test_organization_switcher_for_a_tenant_admin(client: httpx.AsyncClient, admin: Account) -> None:
    child = await create_organization(client, admin, "Desk", parent=str(admin.organization_id))
    response = await client.get("/api/directory/organization-switcher", headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "selectedId", "canManage", "tenantId", "tenants", "isSuperAdmin"}
    [root] = body["items"]
    assert root == {
        "id": str(admin.organization_id),
        "name": "Main",
        "depth": 0,
        "selectable": True,
        "children": [{"id": child, "name": "Desk", "depth": 1, "selectable": True, "children": []}],
    }
    assert body["selectedId"] == str(admin.organization_id)
    assert (body["canManage"], body["isSuperAdmin"], body["tenantId"]) == (True, False, str(admin.tenant_id))
    assert [t["id"] for t in body["tenants"]] == [str(admin.tenant_id)]
    assert set(body["tenants"][0]) == {"id", "name", "isActive"}


async def test_organization_switcher_for_an_employee_cannot_manage(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    employee = await make_account("employee")
    body = (await client.get("/api/directory/organization-switcher", headers=employee.headers)).json()
    assert (body["canManage"], body["isSuperAdmin"]) == (False, False)
    assert [o["id"] for o in body["items"]] == [str(employee.organization_id)]


async def test_organization_switcher_lists_every_tenant_for_a_super_admin(
    client: httpx.AsyncClient, superadmin: Account, admin: Account
) -> None:
    body = (await client.get("/api/directory/organization-switcher", headers=superadmin.headers)).json()
    assert body["isSuperAdmin"] is True
    assert {str(superadmin.tenant_id), str(admin.tenant_id)} <= {t["id"] for t in body["tenants"]}
