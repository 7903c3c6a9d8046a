"""Accounts: users, roles, ACLs, the profile, password reset by mail, sidebar preferences and the
admin navigation, and the UI locale."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import MailOutbox
from tests.conftest import PASSWORD, Account, MakeAccount
from tests.helpers import anonymous, create_organization, create_user, nothing_written, role_id

NEW_PASSWORD = "a-brand-new-secret"
Sessions = async_sessionmaker[AsyncSession]


def _email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@covo.test"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", data={"email": email, "password": password})


# ---------------------------------------------------------------- users


async def test_created_user_has_its_roles_and_can_sign_in(client: httpx.AsyncClient, admin: Account) -> None:
    email = _email()
    response = await client.post(
        "/api/auth/users",
        json={"email": email, "password": "another-secret-1", "organizationId": str(admin.organization_id),
              "roles": ["employee"]},
        headers=admin.headers,
    )  # fmt: skip
    assert response.status_code == 201
    user_id = response.json()["id"]
    assert set(response.json()) == {"id"}

    listed = await client.get("/api/auth/users", params={"id": user_id}, headers=admin.headers)
    [item] = listed.json()["items"]
    assert item["email"] == email
    assert item["roles"] == ["employee"]
    assert item["organizationId"] == str(admin.organization_id)
    assert item["organizationName"] == "Main"
    assert item["tenantId"] == str(admin.tenant_id)

    login = await _login(client, email, "another-secret-1")
    assert login.status_code == 200
    assert (await client.get("/api/auth/profile", headers=_bearer(login.json()["token"]))).json()["roles"] == [
        "employee"
    ]


async def test_roles_may_be_given_by_id(client: httpx.AsyncClient, admin: Account) -> None:
    employee_role = await role_id(client, admin, "employee")
    user = await create_user(client, admin, roles=[employee_role])
    listed = await client.get("/api/auth/users", params={"id": user}, headers=admin.headers)
    assert listed.json()["items"][0]["roles"] == ["employee"]


async def test_duplicate_email_is_409_whatever_the_case(
    client: httpx.AsyncClient, admin: Account, sessionmaker: Sessions
) -> None:
    email = _email()
    await create_user(client, admin, email=email)
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.post("/api/auth/users", json={"email": email.upper()}, headers=admin.headers)
        assert response.status_code == 409
        assert "error" in response.json()


async def test_email_taken_in_another_tenant_is_409_too(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    other = await make_account("employee")
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.post("/api/auth/users", json={"email": other.email}, headers=admin.headers)
        assert response.status_code == 409


async def test_invalid_user_payloads_are_400(client: httpx.AsyncClient, admin: Account, sessionmaker: Sessions) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        for body in (
            {"email": "not-an-email"},
            {"email": _email(), "password": "short"},
            {"email": _email(), "roles": ["no-such-role"]},
            {"password": "long-enough-1"},
        ):
            response = await client.post("/api/auth/users", json=body, headers=admin.headers)
            assert response.status_code == 400, body
            assert "error" in response.json()


async def test_users_list_pages_with_total_and_total_pages(client: httpx.AsyncClient, admin: Account) -> None:
    for _ in range(4):
        await create_user(client, admin)
    first = await client.get("/api/auth/users", params={"page": 1, "pageSize": 2}, headers=admin.headers)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"items", "total", "totalPages"}
    assert (body["total"], body["totalPages"], len(body["items"])) == (5, 3, 2)
    last = await client.get("/api/auth/users", params={"page": 3, "pageSize": 2}, headers=admin.headers)
    assert len(last.json()["items"]) == 1
    seen = [u["id"] for page in (1, 2, 3) for u in (
        await client.get("/api/auth/users", params={"page": page, "pageSize": 2}, headers=admin.headers)
    ).json()["items"]]  # fmt: skip
    assert len(set(seen)) == 5


async def test_bad_paging_is_400(client: httpx.AsyncClient, admin: Account) -> None:
    for params in ({"page": 0}, {"pageSize": 0}, {"pageSize": 100000}, {"page": "x"}):
        assert (await client.get("/api/auth/users", params=params, headers=admin.headers)).status_code == 400


async def test_users_list_search_matches_email_fragment(client: httpx.AsyncClient, admin: Account) -> None:
    needle = uuid.uuid4().hex[:8]
    wanted = await create_user(client, admin, email=f"find-{needle}@covo.test")
    await create_user(client, admin)
    response = await client.get("/api/auth/users", params={"search": needle.upper()}, headers=admin.headers)
    assert [u["id"] for u in response.json()["items"]] == [wanted]
    assert response.json()["total"] == 1


async def test_users_list_filters_by_organization(client: httpx.AsyncClient, admin: Account) -> None:
    branch = await create_organization(client, admin, "Branch")
    in_branch = await create_user(client, admin, organizationId=branch)
    await create_user(client, admin)
    response = await client.get("/api/auth/users", params={"organizationId": branch}, headers=admin.headers)
    assert [u["id"] for u in response.json()["items"]] == [in_branch]
    assert response.json()["items"][0]["organizationName"] == "Branch"


async def test_users_list_filters_by_roles(client: httpx.AsyncClient, admin: Account) -> None:
    employee = await create_user(client, admin, roles=["employee"])
    consumer = await create_user(client, admin, roles=["consumer"])
    await create_user(client, admin)
    employee_role, consumer_role = await role_id(client, admin, "employee"), await role_id(client, admin, "consumer")
    only = await client.get("/api/auth/users", params={"roleIds": employee_role}, headers=admin.headers)
    assert [u["id"] for u in only.json()["items"]] == [employee]
    both = await client.get(
        "/api/auth/users", params=[("roleIds", employee_role), ("roleIds", consumer_role)], headers=admin.headers
    )
    assert {u["id"] for u in both.json()["items"]} == {employee, consumer}
    comma = await client.get(
        "/api/auth/users", params={"roleIds": f"{employee_role},{consumer_role}"}, headers=admin.headers
    )
    assert {u["id"] for u in comma.json()["items"]} == {employee, consumer}


async def test_updating_roles_replaces_them_and_applies_at_once(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    assert (await client.get("/api/auth/features", headers=employee.headers)).status_code == 403
    response = await client.put(
        "/api/auth/users", json={"id": str(employee.user_id), "roles": ["admin"]}, headers=admin.headers
    )
    assert response.json() == {"ok": True}
    listed = await client.get("/api/auth/users", params={"id": str(employee.user_id)}, headers=admin.headers)
    assert listed.json()["items"][0]["roles"] == ["admin"]
    assert (await client.get("/api/auth/profile", headers=employee.headers)).json()["roles"] == ["admin"]
    assert (await client.get("/api/auth/features", headers=employee.headers)).status_code == 200


async def test_updating_user_fields(client: httpx.AsyncClient, admin: Account) -> None:
    branch = await create_organization(client, admin, "Branch")
    user = await create_user(client, admin)
    new_email = _email("renamed")
    response = await client.put(
        "/api/auth/users",
        json={"id": user, "email": new_email, "name": "Ada", "organizationId": branch, "password": NEW_PASSWORD},
        headers=admin.headers,
    )
    assert response.status_code == 200
    [item] = (await client.get("/api/auth/users", params={"id": user}, headers=admin.headers)).json()["items"]
    assert (item["email"], item["name"], item["organizationId"]) == (new_email, "Ada", branch)
    assert (await _login(client, new_email, NEW_PASSWORD)).status_code == 200


async def test_updating_a_user_to_a_taken_email_is_409(
    client: httpx.AsyncClient, admin: Account, sessionmaker: Sessions
) -> None:
    user = await create_user(client, admin)
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.put("/api/auth/users", json={"id": user, "email": admin.email}, headers=admin.headers)
        assert response.status_code == 409


async def test_updating_an_unknown_user_is_404(
    client: httpx.AsyncClient, admin: Account, sessionmaker: Sessions
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.put(
            "/api/auth/users", json={"id": str(uuid.uuid4()), "name": "x"}, headers=admin.headers
        )
        assert response.status_code == 404


async def test_deleted_user_can_no_longer_sign_in(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    victim = await make_account("employee", tenant_id=admin.tenant_id)
    response = await client.delete("/api/auth/users", params={"id": str(victim.user_id)}, headers=admin.headers)
    assert response.json() == {"ok": True}
    assert (await _login(client, victim.email, PASSWORD)).status_code == 401
    assert (await client.get("/api/auth/profile", headers=victim.headers)).status_code == 401
    listed = await client.get("/api/auth/users", headers=admin.headers)
    assert str(victim.user_id) not in [u["id"] for u in listed.json()["items"]]
    again = await client.delete("/api/auth/users", params={"id": str(victim.user_id)}, headers=admin.headers)
    assert again.status_code == 404


async def test_deleted_users_email_can_be_used_again(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    victim = await make_account("employee", tenant_id=admin.tenant_id)
    await client.delete("/api/auth/users", params={"id": str(victim.user_id)}, headers=admin.headers)
    response = await client.post("/api/auth/users", json={"email": victim.email}, headers=admin.headers)
    assert response.status_code == 201


async def test_you_cannot_delete_yourself(client: httpx.AsyncClient, admin: Account, sessionmaker: Sessions) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.delete("/api/auth/users", params={"id": str(admin.user_id)}, headers=admin.headers)
        assert response.status_code == 409
        assert "error" in response.json()
    assert (await client.get("/api/auth/profile", headers=admin.headers)).status_code == 200


async def test_you_cannot_deactivate_yourself(
    client: httpx.AsyncClient, admin: Account, sessionmaker: Sessions
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.put(
            "/api/auth/users", json={"id": str(admin.user_id), "isActive": False}, headers=admin.headers
        )
        assert response.status_code == 409
    assert (await client.get("/api/auth/profile", headers=admin.headers)).status_code == 200


async def test_delete_user_without_id_is_400(client: httpx.AsyncClient, admin: Account, sessionmaker: Sessions) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        assert (await client.delete("/api/auth/users", headers=admin.headers)).status_code == 400
        assert (await client.delete("/api/auth/users", params={"id": "nope"}, headers=admin.headers)).status_code == 400


# ---------------------------------------------------------------- roles


async def test_created_role_is_listed_with_its_user_count(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    created = await client.post("/api/auth/roles", json={"name": "auditors"}, headers=admin.headers)
    assert created.status_code == 201
    assert set(created.json()) == {"id"}
    await make_account("auditors", tenant_id=admin.tenant_id)
    await make_account("auditors", tenant_id=admin.tenant_id)
    listed = await client.get("/api/auth/roles", params={"id": created.json()["id"]}, headers=admin.headers)
    body = listed.json()
    assert set(body) == {"items", "total", "totalPages"}
    [role] = body["items"]
    assert (role["name"], role["usersCount"], role["tenantId"]) == ("auditors", 2, str(admin.tenant_id))
    assert role["tenantName"]


async def test_roles_list_searches_and_pages(client: httpx.AsyncClient, admin: Account) -> None:
    page = await client.get("/api/auth/roles", params={"pageSize": 3}, headers=admin.headers)
    assert (page.json()["total"], page.json()["totalPages"], len(page.json()["items"])) == (4, 2, 3)
    found = await client.get("/api/auth/roles", params={"search": "EMPLO"}, headers=admin.headers)
    assert [r["name"] for r in found.json()["items"]] == ["employee"]


async def test_duplicate_role_name_is_409(client: httpx.AsyncClient, admin: Account) -> None:
    before = (await client.get("/api/auth/roles", headers=admin.headers)).json()["total"]
    response = await client.post("/api/auth/roles", json={"name": "employee"}, headers=admin.headers)
    assert response.status_code == 409
    assert (await client.get("/api/auth/roles", headers=admin.headers)).json()["total"] == before
    # the failed insert did not spoil anything: the next request works
    assert (await client.post("/api/auth/roles", json={"name": "fresh"}, headers=admin.headers)).status_code == 201


async def test_blank_role_name_is_400(client: httpx.AsyncClient, admin: Account) -> None:
    before = (await client.get("/api/auth/roles", headers=admin.headers)).json()["total"]
    assert (await client.post("/api/auth/roles", json={"name": "  "}, headers=admin.headers)).status_code == 400
    assert (await client.post("/api/auth/roles", json={}, headers=admin.headers)).status_code == 400
    assert (await client.get("/api/auth/roles", headers=admin.headers)).json()["total"] == before  # none written


async def test_renaming_a_role(client: httpx.AsyncClient, admin: Account) -> None:
    role = (await client.post("/api/auth/roles", json={"name": "old-name"}, headers=admin.headers)).json()["id"]
    response = await client.put("/api/auth/roles", json={"id": role, "name": "new-name"}, headers=admin.headers)
    assert response.json() == {"ok": True}
    assert await role_id(client, admin, "new-name") == role


async def test_renaming_a_role_onto_a_taken_name_is_409(
    client: httpx.AsyncClient, admin: Account, sessionmaker: Sessions
) -> None:
    role = (await client.post("/api/auth/roles", json={"name": "temp"}, headers=admin.headers)).json()["id"]
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.put("/api/auth/roles", json={"id": role, "name": "admin"}, headers=admin.headers)
        assert response.status_code == 409
    assert await role_id(client, admin, "temp") == role


async def test_role_with_users_cannot_be_deleted(
    client: httpx.AsyncClient, admin: Account, sessionmaker: Sessions
) -> None:
    role = await role_id(client, admin, "admin")
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.delete("/api/auth/roles", params={"id": role}, headers=admin.headers)
        assert response.status_code == 400
    assert await role_id(client, admin, "admin") == role


async def test_deleting_an_unused_role(client: httpx.AsyncClient, admin: Account) -> None:
    role = (await client.post("/api/auth/roles", json={"name": "short-lived"}, headers=admin.headers)).json()["id"]
    await client.put(
        "/api/auth/roles/acl", json={"roleId": role, "features": ["auth.users.list"]}, headers=admin.headers
    )
    response = await client.delete("/api/auth/roles", params={"id": role}, headers=admin.headers)
    assert response.json() == {"ok": True}
    listed = await client.get("/api/auth/roles", headers=admin.headers)
    assert "short-lived" not in [r["name"] for r in listed.json()["items"]]
    again = await client.delete("/api/auth/roles", params={"id": role}, headers=admin.headers)
    assert again.status_code == 404


async def test_role_whose_only_users_were_deleted_can_be_deleted(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    role = (await client.post("/api/auth/roles", json={"name": "temps"}, headers=admin.headers)).json()["id"]
    member = await make_account("temps", tenant_id=admin.tenant_id)
    await client.delete("/api/auth/users", params={"id": str(member.user_id)}, headers=admin.headers)
    response = await client.delete("/api/auth/roles", params={"id": role}, headers=admin.headers)
    assert response.json() == {"ok": True}


async def test_role_acl_round_trips(client: httpx.AsyncClient, admin: Account) -> None:
    role = (await client.post("/api/auth/roles", json={"name": "scoped"}, headers=admin.headers)).json()["id"]
    empty = await client.get("/api/auth/roles/acl", params={"roleId": role}, headers=admin.headers)
    assert empty.json() == {"isSuperAdmin": False, "features": [], "organizations": None}
    put = await client.put(
        "/api/auth/roles/acl",
        json={"roleId": role, "features": ["auth.users.list", "api_keys.*"],
              "organizations": [str(admin.organization_id)]},
        headers=admin.headers,
    )  # fmt: skip
    assert put.json() == {"ok": True, "sanitized": False}
    acl = await client.get("/api/auth/roles/acl", params={"roleId": role}, headers=admin.headers)
    assert acl.json() == {
        "isSuperAdmin": False,
        "features": ["auth.users.list", "api_keys.*"],
        "organizations": [str(admin.organization_id)],
    }


async def test_role_acl_with_unknown_organization_is_400(
    client: httpx.AsyncClient, admin: Account, sessionmaker: Sessions
) -> None:
    role = await role_id(client, admin, "employee")
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.put(
            "/api/auth/roles/acl", json={"roleId": role, "organizations": [str(uuid.uuid4())]}, headers=admin.headers
        )
        assert response.status_code == 400


async def test_role_acl_of_unknown_or_missing_role(client: httpx.AsyncClient, admin: Account) -> None:
    unknown = await client.get("/api/auth/roles/acl", params={"roleId": str(uuid.uuid4())}, headers=admin.headers)
    assert unknown.status_code == 404
    missing = await client.get("/api/auth/roles/acl", headers=admin.headers)
    assert missing.status_code == 400
    garbage = await client.get("/api/auth/roles/acl", params={"roleId": "x"}, headers=admin.headers)
    assert garbage.status_code == 400


async def test_user_acl_shows_what_roles_grant_until_overridden(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    acl = await client.get("/api/auth/users/acl", params={"userId": str(employee.user_id)}, headers=admin.headers)
    assert acl.status_code == 200
    body = acl.json()
    assert (body["hasCustomAcl"], body["isSuperAdmin"], body["organizations"]) == (False, False, None)
    assert {"auth.users.list", "auth.roles.list", "directory.organizations.view"} <= set(body["features"])
    assert "auth.users.create" not in body["features"]


# ---------------------------------------------------------------- profile


async def test_profile_shows_the_signed_in_user(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.get("/api/auth/profile", headers=admin.headers)
    assert response.json() == {
        "id": str(admin.user_id),
        "email": admin.email,
        "name": None,
        "roles": ["admin"],
        "tenantId": str(admin.tenant_id),
        "organizationId": str(admin.organization_id),
    }


async def test_changing_password_without_current_password_is_400(
    client: httpx.AsyncClient, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    account = await make_account("employee")
    async with nothing_written(sessionmaker, account.tenant_id):
        response = await client.put("/api/auth/profile", json={"password": NEW_PASSWORD}, headers=account.headers)
        assert response.status_code == 400
    assert (await _login(client, account.email, PASSWORD)).status_code == 200


async def test_changing_password_with_wrong_current_password_is_400(
    client: httpx.AsyncClient, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    account = await make_account("employee")
    async with nothing_written(sessionmaker, account.tenant_id):
        response = await client.put(
            "/api/auth/profile",
            json={"password": NEW_PASSWORD, "currentPassword": "guess-guess"},
            headers=account.headers,
        )
        assert response.status_code == 400
    assert (await _login(client, account.email, NEW_PASSWORD)).status_code == 401


async def test_changed_password_is_the_one_that_signs_in(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    account = await make_account("employee")
    response = await client.put(
        "/api/auth/profile", json={"password": NEW_PASSWORD, "currentPassword": PASSWORD}, headers=account.headers
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "email": account.email}
    assert (await _login(client, account.email, NEW_PASSWORD)).status_code == 200
    assert (await _login(client, account.email, PASSWORD)).status_code == 401


async def test_too_short_new_password_is_400(
    client: httpx.AsyncClient, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    account = await make_account("employee")
    async with nothing_written(sessionmaker, account.tenant_id):
        response = await client.put(
            "/api/auth/profile", json={"password": "short", "currentPassword": PASSWORD}, headers=account.headers
        )
        assert response.status_code == 400
    assert (await _login(client, account.email, PASSWORD)).status_code == 200


async def test_changing_email_needs_current_password_and_then_signs_in(
    client: httpx.AsyncClient, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    account = await make_account("employee")
    new_email = _email("moved")
    async with nothing_written(sessionmaker, account.tenant_id):
        refused = await client.put("/api/auth/profile", json={"email": new_email}, headers=account.headers)
        assert refused.status_code == 400
    response = await client.put(
        "/api/auth/profile", json={"email": new_email, "currentPassword": PASSWORD}, headers=account.headers
    )
    assert response.json() == {"ok": True, "email": new_email}
    assert (await _login(client, new_email, PASSWORD)).status_code == 200
    assert (await _login(client, account.email, PASSWORD)).status_code == 401


async def test_changing_email_to_a_taken_or_invalid_address_is_400(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    account = await make_account("employee")
    async with nothing_written(sessionmaker, account.tenant_id):
        for email in (admin.email, "not-an-email"):
            response = await client.put(
                "/api/auth/profile", json={"email": email, "currentPassword": PASSWORD}, headers=account.headers
            )
            assert response.status_code == 400, email
    assert (await client.get("/api/auth/profile", headers=account.headers)).json()["email"] == account.email


async def test_renaming_yourself_needs_no_password(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    account = await make_account("employee")
    response = await client.put("/api/auth/profile", json={"name": "Grace"}, headers=account.headers)
    assert response.status_code == 200
    assert (await client.get("/api/auth/profile", headers=account.headers)).json()["name"] == "Grace"


async def test_get_logout_redirects_and_ends_the_session(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    account = await make_account("employee")
    response = await client.get("/api/auth/logout", params={"redirect": "/login"}, headers=account.headers)
    assert response.status_code == 302
    assert response.headers["location"] == "/login"
    assert (await client.get("/api/auth/profile", headers=account.headers)).status_code == 401


# ---------------------------------------------------------------- password reset


async def _delivered_reset_mail(sessionmaker: Sessions, email: str) -> MailOutbox:
    """The reset mail is written to the outbox, then the MailDelivery workflow marks it SENT."""
    deadline = time.monotonic() + 10
    while True:
        async with sessionmaker() as session:
            row = await session.scalar(select(MailOutbox).where(MailOutbox.recipient == email))
        if row is not None and row.status == "SENT":
            return row
        assert time.monotonic() < deadline, f"reset mail not delivered: {row.status if row else 'no row'}"
        await asyncio.sleep(0.2)


def _token(mail: MailOutbox) -> str:
    match = re.search(r"/reset/([A-Za-z0-9_\-]+)", mail.body)
    assert match, mail.body
    return match.group(1)


async def test_password_reset_by_mail_sets_the_new_password_once(
    client: httpx.AsyncClient, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    account = await make_account("employee")
    requested = await anonymous(client).post("/api/auth/reset", data={"email": account.email})
    assert requested.status_code == 200
    assert requested.json() == {"ok": True}

    mail = await _delivered_reset_mail(sessionmaker, account.email)
    assert mail.sent_at is not None
    token = _token(mail)

    confirmed = await client.post("/api/auth/reset/confirm", data={"token": token, "password": NEW_PASSWORD})
    assert confirmed.status_code == 200
    assert confirmed.json()["ok"] is True
    assert isinstance(confirmed.json()["redirect"], str)
    assert (await _login(client, account.email, NEW_PASSWORD)).status_code == 200
    assert (await _login(client, account.email, PASSWORD)).status_code == 401

    reused = await client.post("/api/auth/reset/confirm", data={"token": token, "password": "yet-another-one"})
    assert reused.status_code == 400
    assert reused.json()["ok"] is False
    assert (await _login(client, account.email, NEW_PASSWORD)).status_code == 200


async def test_password_reset_signs_out_existing_sessions(
    client: httpx.AsyncClient, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    account = await make_account("employee")
    refresh_token = (await _login(client, account.email, PASSWORD)).json()["refreshToken"]
    await client.post("/api/auth/reset", data={"email": account.email})
    token = _token(await _delivered_reset_mail(sessionmaker, account.email))
    assert (await client.post("/api/auth/reset/confirm", data={"token": token, "password": NEW_PASSWORD})).is_success

    assert (await client.get("/api/auth/profile", headers=account.headers)).status_code == 401
    refreshed = await client.post("/api/auth/session/refresh", json={"refreshToken": refresh_token})
    assert refreshed.status_code == 401


async def test_password_reset_for_unknown_email_answers_the_same_and_sends_nothing(
    client: httpx.AsyncClient, sessionmaker: Sessions
) -> None:
    email = _email("nobody")
    response = await anonymous(client).post("/api/auth/reset", data={"email": email})
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    async with sessionmaker() as session:
        assert await session.scalar(select(MailOutbox).where(MailOutbox.recipient == email)) is None


async def test_password_reset_answers_ok_even_when_mail_cannot_be_dispatched(
    make_client: Callable[..., AsyncIterator[httpx.AsyncClient]], make_account: MakeAccount
) -> None:
    """With Temporal unreachable a known address must not answer differently from an unknown one."""
    account = await make_account("employee")
    async for degraded in make_client(temporal_address="127.0.0.1:1"):
        known = await degraded.post("/api/auth/reset", data={"email": account.email})
        unknown = await degraded.post("/api/auth/reset", data={"email": _email("nobody")})
        assert (known.status_code, known.json()) == (unknown.status_code, unknown.json()) == (200, {"ok": True})


async def test_reset_confirm_with_bad_token_or_missing_fields_is_400(client: httpx.AsyncClient) -> None:
    for data in ({"token": "not-a-token", "password": NEW_PASSWORD}, {"token": "x"}, {}):
        response = await client.post("/api/auth/reset/confirm", data=data)
        assert response.status_code == 400, data
        assert response.json()["ok"] is False


async def test_reset_confirm_with_weak_password_keeps_the_token_usable(
    client: httpx.AsyncClient, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    account = await make_account("employee")
    await client.post("/api/auth/reset", data={"email": account.email})
    token = _token(await _delivered_reset_mail(sessionmaker, account.email))
    async with nothing_written(sessionmaker, account.tenant_id):
        weak = await client.post("/api/auth/reset/confirm", data={"token": token, "password": "short"})
        assert weak.status_code == 400
    good = await client.post("/api/auth/reset/confirm", data={"token": token, "password": NEW_PASSWORD})
    assert good.status_code == 200


# ---------------------------------------------------------------- sidebar & navigation


def _hrefs(nav: dict[str, object]) -> set[str]:
    groups = nav["groups"]
    assert isinstance(groups, list)
    return {item["href"] for group in groups for item in group["items"]}


async def test_navigation_follows_the_callers_features(
    client: httpx.AsyncClient, admin: Account, superadmin: Account, make_account: MakeAccount
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    consumer = await make_account("consumer", tenant_id=admin.tenant_id)
    admin_nav = (await client.get("/api/auth/admin/nav", headers=admin.headers)).json()
    employee_nav = (await client.get("/api/auth/admin/nav", headers=employee.headers)).json()
    consumer_nav = (await client.get("/api/auth/admin/nav", headers=consumer.headers)).json()
    root_nav = (await client.get("/api/auth/admin/nav", headers=superadmin.headers)).json()

    assert _hrefs(employee_nav) < _hrefs(admin_nav) < _hrefs(root_nav)
    assert "/backend/api-keys" in _hrefs(admin_nav) - _hrefs(employee_nav)
    assert "/backend/users" in _hrefs(employee_nav)
    assert "/backend/directory/tenants" in _hrefs(root_nav) - _hrefs(admin_nav)
    assert consumer_nav == {"groups": []}
    for group in admin_nav["groups"]:
        assert set(group) == {"id", "name", "defaultName", "items"}
        assert group["name"] == group["defaultName"]
        for item in group["items"]:
            assert set(item) == {"href", "title", "defaultTitle", "enabled"}
            assert item["enabled"] is True


async def test_fresh_user_has_default_sidebar_preferences(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    employee = await make_account("employee")
    response = await client.get("/api/auth/sidebar/preferences", headers=employee.headers)
    assert response.json() == {
        "locale": "en",
        "settings": {"version": 1, "groupOrder": [], "groupLabels": {}, "itemLabels": {}, "hiddenItems": []},
        "canApplyToRoles": False,
        "roles": [],
    }


async def test_own_sidebar_preferences_shape_the_navigation(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    employee = await make_account("employee")
    settings = {
        "version": 1,
        "groupOrder": ["settings"],
        "groupLabels": {"settings": "Administration"},
        "itemLabels": {"/backend/roles": "Access roles"},
        "hiddenItems": ["/backend/users"],
    }
    saved = await client.put(
        "/api/auth/sidebar/preferences", json={"locale": "de", "settings": settings}, headers=employee.headers
    )
    assert saved.status_code == 200
    assert (saved.json()["settings"], saved.json()["locale"]) == (settings, "de")
    assert (saved.json()["appliedRoles"], saved.json()["clearedRoles"]) == ([], [])
    assert (await client.get("/api/auth/sidebar/preferences", headers=employee.headers)).json()["settings"] == settings

    nav = (await client.get("/api/auth/admin/nav", headers=employee.headers)).json()
    first = nav["groups"][0]
    assert (first["id"], first["name"], first["defaultName"]) == ("settings", "Administration", "Settings")
    items = {item["href"]: item for item in first["items"]}
    assert items["/backend/users"]["enabled"] is False
    assert items["/backend/roles"]["title"] == "Access roles"
    assert items["/backend/roles"]["defaultTitle"] == "Roles"
    assert items["/backend/roles"]["enabled"] is True


async def test_invalid_sidebar_settings_are_400(
    client: httpx.AsyncClient, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    employee = await make_account("employee")
    async with nothing_written(sessionmaker, employee.tenant_id):
        for settings in ({"hiddenItems": "all"}, {"groupLabels": {"settings": 3}}):
            response = await client.put(
                "/api/auth/sidebar/preferences", json={"settings": settings}, headers=employee.headers
            )
            assert response.status_code == 400, settings


async def test_applying_sidebar_to_roles_without_role_management_is_403(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    employee_role = await role_id(client, admin, "employee")
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.put(
            "/api/auth/sidebar/preferences",
            json={"settings": {"hiddenItems": ["/backend/users"]}, "applyToRoles": [employee_role]},
            headers=employee.headers,
        )
        assert response.status_code == 403
        assert "error" in response.json()
    roles = (await client.get("/api/auth/sidebar/preferences", headers=admin.headers)).json()["roles"]
    assert {r["name"]: r["hasPreference"] for r in roles}["employee"] is False
    # nothing of the refused request was stored, not even the caller's own part
    own = await client.get("/api/auth/sidebar/preferences", headers=employee.headers)
    assert own.json()["settings"]["hiddenItems"] == []


async def test_admin_applies_sidebar_to_a_role_and_its_members_see_it(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    member = await make_account("employee", tenant_id=admin.tenant_id)
    employee_role = await role_id(client, admin, "employee")
    applied = await client.put(
        "/api/auth/sidebar/preferences",
        json={"settings": {"hiddenItems": ["/backend/roles"]}, "applyToRoles": [employee_role]},
        headers=admin.headers,
    )
    assert applied.status_code == 200
    body = applied.json()
    assert body["canApplyToRoles"] is True
    assert body["appliedRoles"] == [employee_role]
    assert {r["name"]: r["hasPreference"] for r in body["roles"]} == {
        "admin": False, "consumer": False, "employee": True, "superadmin": False,
    }  # fmt: skip

    nav = (await client.get("/api/auth/admin/nav", headers=member.headers)).json()
    items = {item["href"]: item for group in nav["groups"] for item in group["items"]}
    assert items["/backend/roles"]["enabled"] is False

    cleared = await client.put(
        "/api/auth/sidebar/preferences", json={"clearRoleIds": [employee_role]}, headers=admin.headers
    )
    assert cleared.json()["clearedRoles"] == [employee_role]
    nav = (await client.get("/api/auth/admin/nav", headers=member.headers)).json()
    items = {item["href"]: item for group in nav["groups"] for item in group["items"]}
    assert items["/backend/roles"]["enabled"] is True


# ---------------------------------------------------------------- locale


async def test_locale_defaults_to_english(client: httpx.AsyncClient) -> None:
    response = await anonymous(client).get("/api/auth/locale")
    assert response.status_code == 200
    assert response.json() == {"locale": "en"}


async def test_setting_the_locale_stores_it_in_a_cookie(client: httpx.AsyncClient) -> None:
    response = await anonymous(client).post("/api/auth/locale", json={"locale": "de"})
    assert response.status_code == 201
    assert response.json() == {"ok": True, "locale": "de"}
    assert "locale=de" in response.headers["set-cookie"]
    again = await client.get("/api/auth/locale", headers={"Cookie": "locale=de"})
    assert again.json() == {"locale": "de"}
    anonymous(client)


async def test_invalid_locale_is_400(client: httpx.AsyncClient) -> None:
    response = await anonymous(client).post("/api/auth/locale", json={"locale": "../etc"})
    assert response.status_code == 400
