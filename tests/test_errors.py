"""The one error language: unexpected failures answer 500 with a request id and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from engine.auth import navigation
from engine.settings import Settings
from tests.conftest import Account
from tests.helpers import nothing_written


@pytest.fixture
async def tolerant_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but hands back the app's 500 response instead of re-raising the error."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
def broken_navigation(monkeypatch: pytest.MonkeyPatch) -> None:
    async def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError("connection to db-internal:5432 failed, password=hunter2")

    monkeypatch.setattr(navigation, "admin_nav", explode)


@pytest.mark.usefixtures("broken_navigation")
async def test_unexpected_error_is_500_with_the_callers_request_id_and_no_details(
    tolerant_client: httpx.AsyncClient, admin: Account
) -> None:
    response = await tolerant_client.get("/api/auth/admin/nav", headers={**admin.headers, "X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error", "requestId": "req-42"}
    assert response.headers["x-request-id"] == "req-42"
    for leak in ("hunter2", "db-internal", "Traceback", "RuntimeError"):
        assert leak not in response.text


@pytest.mark.usefixtures("broken_navigation")
async def test_unexpected_error_gets_a_generated_request_id(tolerant_client: httpx.AsyncClient, admin: Account) -> None:
    response = await tolerant_client.get("/api/auth/admin/nav", headers=admin.headers)
    assert response.status_code == 500
    request_id = response.json()["requestId"]
    assert uuid.UUID(request_id)
    assert response.headers["x-request-id"] == request_id


async def test_unknown_route_is_404_in_the_same_error_language(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


async def test_malformed_json_body_is_400(
    client: httpx.AsyncClient, admin: Account, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with nothing_written(sessionmaker, admin.tenant_id):
        response = await client.post(
            "/api/auth/roles", content=b"{not json", headers={**admin.headers, "content-type": "application/json"}
        )
        assert response.status_code == 400
        assert "error" in response.json()


async def test_successful_responses_echo_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health/live", headers={"X-Request-ID": "trace-me"})
    assert response.headers["x-request-id"] == "trace-me"
