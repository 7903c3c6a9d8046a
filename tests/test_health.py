"""Liveness and readiness probes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
from sqlalchemy import make_url

from engine.settings import Settings
from tests.helpers import anonymous

MakeClient = Callable[..., AsyncIterator[httpx.AsyncClient]]


async def test_live_answers_200_without_credentials(client: httpx.AsyncClient) -> None:
    response = await anonymous(client).get("/api/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_every_dependency_ok(client: httpx.AsyncClient) -> None:
    response = await anonymous(client).get("/api/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"postgres": "ok", "temporal": "ok"}}


async def test_ready_is_503_naming_temporal_when_it_is_unreachable(make_client: MakeClient) -> None:
    async for unready in make_client(temporal_address="127.0.0.1:1"):
        response = await unready.get("/api/health/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["checks"] == {"postgres": "ok", "temporal": "down"}
        assert "temporal" in body["error"]
        # liveness is unaffected: the process still serves
        assert (await unready.get("/api/health/live")).status_code == 200


async def test_ready_is_503_naming_postgres_when_it_is_unreachable(make_client: MakeClient, settings: Settings) -> None:
    assert settings.database_url
    unreachable = make_url(settings.database_url).set(host="127.0.0.1", port=1)
    async for unready in make_client(database_url=unreachable.render_as_string(hide_password=False)):
        response = await unready.get("/api/health/ready")
        assert response.status_code == 503
        assert response.json()["checks"] == {"postgres": "down", "temporal": "ok"}
        assert "postgres" in response.json()["error"]
