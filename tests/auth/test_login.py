from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import AuthSession
from tests.conftest import PASSWORD, Account, MakeAccount
from tests.helpers import count_rows

Sessions = async_sessionmaker[AsyncSession]


async def _sessions(sessionmaker: Sessions, account: Account) -> int:
    return await count_rows(sessionmaker, AuthSession, AuthSession.user_id == account.user_id)


async def test_login_returns_token_that_opens_protected_routes(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.get("/api/auth/profile", headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == admin.email
    assert body["roles"] == ["admin"]


async def test_login_with_wrong_password_is_401_with_ok_false(
    client: httpx.AsyncClient, admin: Account, sessionmaker: Sessions
) -> None:
    sessions = await _sessions(sessionmaker, admin)
    response = await client.post("/api/auth/login", data={"email": admin.email, "password": "nope-nope-nope"})
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "Invalid email or password"}
    assert await _sessions(sessionmaker, admin) == sessions  # no session opened


async def test_login_without_fields_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", data={"email": ""})
    assert response.status_code == 400
    assert response.json()["ok"] is False


async def test_disabled_user_cannot_log_in(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: Sessions
) -> None:
    other = await make_account("employee", tenant_id=admin.tenant_id)
    update = await client.put(
        "/api/auth/users", json={"id": str(other.user_id), "isActive": False}, headers=admin.headers
    )
    assert update.status_code == 200
    sessions = await _sessions(sessionmaker, other)
    response = await client.post("/api/auth/login", data={"email": other.email, "password": PASSWORD})
    assert response.status_code == 403
    assert await _sessions(sessionmaker, other) == sessions  # no session opened
    # and its existing token stops working at once
    assert (await client.get("/api/auth/profile", headers=other.headers)).status_code == 401


async def test_missing_or_garbage_credentials_are_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/auth/profile")).json() == {"error": "Unauthorized"}
    for header in ("Bearer nonsense", "apikey covo_nonsense", "Basic abc"):
        response = await client.get("/api/auth/profile", headers={"Authorization": header})
        assert response.status_code == 401


async def test_refresh_issues_new_access_token_and_logout_revokes_both(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    account = await make_account("employee")
    login = await client.post("/api/auth/login", data={"email": account.email, "password": PASSWORD})
    refresh_token = login.json()["refreshToken"]
    access = login.json()["token"]

    refreshed = await client.post("/api/auth/session/refresh", json={"refreshToken": refresh_token})
    assert refreshed.status_code == 200
    assert refreshed.json()["ok"] is True and refreshed.json()["expiresIn"] > 0
    new_access = refreshed.json()["accessToken"]
    assert (await client.get("/api/auth/profile", headers={"Authorization": f"Bearer {new_access}"})).status_code == 200

    out = await client.post("/api/auth/logout", headers={"Authorization": f"Bearer {access}"})
    assert out.status_code == 201
    for token in (access, new_access):
        assert (await client.get("/api/auth/profile", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    again = await client.post("/api/auth/session/refresh", json={"refreshToken": refresh_token})
    assert again.status_code == 401
    assert again.json()["ok"] is False


async def test_refresh_without_token_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/session/refresh", json={})
    assert response.status_code == 400


async def test_cookie_refresh_redirects_to_same_site_path_only(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    account = await make_account("employee")
    login = await client.post("/api/auth/login", data={"email": account.email, "password": PASSWORD})
    cookies = {"session_token": login.json()["refreshToken"]}
    response = await client.get("/api/auth/session/refresh?redirect=/backend", cookies=cookies)
    assert response.status_code == 302
    assert response.headers["location"] == "/backend"
    assert "auth_token=" in response.headers["set-cookie"]
    evil = await client.get("/api/auth/session/refresh?redirect=//evil.example", cookies=cookies)
    assert evil.headers["location"] == "/"


async def test_login_is_rate_limited(make_client, make_account: MakeAccount, sessionmaker: Sessions) -> None:  # type: ignore[no-untyped-def]
    account = await make_account("employee")  # this logs in once: attempt 1 of 3
    sessions = await _sessions(sessionmaker, account)
    async for limited in make_client(auth_rate_limit=3):
        codes = [
            (
                await limited.post("/api/auth/login", data={"email": account.email, "password": "wrong-password"})
            ).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 429, 429]
        blocked = await limited.post("/api/auth/login", data={"email": account.email, "password": PASSWORD})
        assert blocked.status_code == 429
        assert "error" in blocked.json()
    assert await _sessions(sessionmaker, account) == sessions  # the right password, blocked: no session


async def test_reset_and_refresh_are_rate_limited(make_client) -> None:  # type: ignore[no-untyped-def]
    async for limited in make_client(auth_rate_limit=2):
        # Other tests' attempts from the same test client may share the window: only the end is fixed.
        resets = [
            (await limited.post("/api/auth/reset", data={"email": "nobody@covo.test"})).status_code for _ in range(4)
        ]
        assert resets[-1] == 429
        assert set(resets) <= {200, 429}
        refreshes = [
            (await limited.post("/api/auth/session/refresh", json={"refreshToken": "rt_nope"})).status_code
            for _ in range(4)
        ]
        assert refreshes[-1] == 429
        assert set(refreshes) <= {401, 429}
