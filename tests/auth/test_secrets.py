"""Secrets and sessions: the JWT algorithm is pinned, a deactivated user's tokens stop at once,
login answers the same (after the same work) for an unknown e-mail and a wrong password, and no
log line or later answer carries a password, token or API key."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import jwt
import pytest

from engine.auth import service
from engine.settings import Settings
from tests.conftest import PASSWORD, Account, MakeAccount
from tests.helpers import anonymous


def _forged(token: str, secret: str, algorithm: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, secret, algorithm=algorithm)


@pytest.mark.parametrize("algorithm", ["HS512", "HS384"])
async def test_only_the_pinned_jwt_algorithm_is_accepted(
    client: httpx.AsyncClient, admin: Account, settings: Settings, algorithm: str
) -> None:
    same_claims = _forged(admin.token, settings.jwt_secret or "", "HS256")
    assert (
        await client.get("/api/auth/profile", headers={"Authorization": f"Bearer {same_claims}"})
    ).status_code == 200
    other = _forged(admin.token, settings.jwt_secret or "", algorithm)
    response = await anonymous(client).get("/api/auth/profile", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 401


async def test_an_unsigned_token_is_refused(client: httpx.AsyncClient, admin: Account) -> None:
    claims = jwt.decode(admin.token, options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")
    response = await anonymous(client).get("/api/auth/profile", headers={"Authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401


async def test_a_token_without_expiry_is_refused(client: httpx.AsyncClient, admin: Account, settings: Settings) -> None:
    claims = jwt.decode(admin.token, options={"verify_signature": False})
    del claims["exp"]
    forever = jwt.encode(claims, settings.jwt_secret or "", algorithm="HS256")
    response = await anonymous(client).get("/api/auth/profile", headers={"Authorization": f"Bearer {forever}"})
    assert response.status_code == 401


async def test_a_deactivated_users_tokens_stop_at_once(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    login = await client.post("/api/auth/login", data={"email": admin.email, "password": PASSWORD})
    refresh_token = login.json()["refreshToken"]
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    employee_login = await client.post("/api/auth/login", data={"email": employee.email, "password": PASSWORD})
    employee_refresh = employee_login.json()["refreshToken"]
    anonymous(client)
    assert (await client.get("/api/auth/profile", headers=employee.headers)).status_code == 200

    deactivate = {"id": str(employee.user_id), "isActive": False}
    assert (await client.put("/api/auth/users", json=deactivate, headers=admin.headers)).status_code == 200

    assert (await anonymous(client).get("/api/auth/profile", headers=employee.headers)).status_code == 401
    refreshed = await anonymous(client).post("/api/auth/session/refresh", json={"refreshToken": employee_refresh})
    assert refreshed.status_code == 401
    # the admin's own session is untouched
    assert (await client.post("/api/auth/session/refresh", json={"refreshToken": refresh_token})).status_code == 200


async def test_unknown_email_and_wrong_password_get_the_same_answer_after_the_same_work(
    client: httpx.AsyncClient, admin: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = service.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        checked.append(password_hash or "")
        return real(password_hash, password)

    monkeypatch.setattr(service, "verify_password", counting)

    async def attempt(email: str) -> tuple[int, Any, int]:
        checked.clear()
        response = await anonymous(client).post("/api/auth/login", data={"email": email, "password": "wrong-password"})
        return response.status_code, response.json(), len([h for h in checked if h.startswith("$argon2")])

    unknown = await attempt(f"nobody-{uuid.uuid4().hex[:8]}@covo.test")
    wrong = await attempt(admin.email)
    assert unknown == wrong
    assert unknown[0] == 401 and unknown[2] == 1  # one Argon2 verification either way


async def test_no_secret_in_logs_or_later_answers(
    client: httpx.AsyncClient, admin: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = await client.post("/api/api_keys/keys", json={"name": "scan"}, headers=admin.headers)
    secret = key.json()["secret"]
    login = await client.post("/api/auth/login", data={"email": admin.email, "password": PASSWORD})
    tokens = [login.json()["token"], login.json()["refreshToken"]]
    anonymous(client)
    await client.post("/api/auth/login", data={"email": admin.email, "password": "a-wrong-password"})
    await client.post("/api/auth/reset", data={"email": admin.email})
    await client.post("/api/auth/session/refresh", json={"refreshToken": tokens[1]})
    await client.get("/api/auth/profile", headers={"Authorization": f"apikey {secret}"})
    await client.get("/api/auth/profile", headers={"Authorization": "Bearer not-a-valid-token-at-all"})
    listed = [
        await client.get("/api/api_keys/keys", headers=admin.headers),
        await client.get("/api/auth/users", headers=admin.headers),
        await client.get("/api/auth/profile", headers=admin.headers),
    ]
    logged = "\n".join(f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records, "the operations above log something (mail, requests)"
    for value in (PASSWORD, "a-wrong-password", secret, *tokens, "$argon2"):
        assert value not in logged
        for response in listed:
            assert value not in response.text
