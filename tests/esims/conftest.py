"""The eSIM tests' stack: the 1Global simulator as a real HTTP server on a free port, the API served
by uvicorn on another (the simulator delivers its webhooks there), and a worker with the production
registry pointed at the simulator, on its own task queue. Tests talk HTTP to the API and steer the
simulator through its admin endpoint."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from engine.devstack import free_port
from engine.settings import Settings
from tests.conftest import Account, MakeAccount
from tests.consumers.conftest import SignedUpConsumer, sign_up
from workers.onglobal.simulator import Simulator, running
from workers.registry import build_worker

WEBHOOK_USER = "oneglobal-test"
WEBHOOK_PASSWORD = "webhook-secret-for-tests-0123456789"


class Caller(Protocol):
    email: str

    @property
    def headers(self) -> dict[str, str]: ...


@dataclass
class EsimStack:
    http: httpx.AsyncClient  # the API over HTTP
    asgi: httpx.AsyncClient  # the session's in-process client (sign-up, wallet adjustments)
    sim: Simulator
    sim_http: httpx.AsyncClient  # the simulator's admin endpoint
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]

    async def behave(self, email: str | None = None, **behaviour: Any) -> None:
        body = {**behaviour, **({"email": email} if email else {})}
        response = await self.sim_http.post("/_sim/behaviour", json=body)
        assert response.status_code == 200, response.text

    async def order(self, consumer: Caller, **body: Any) -> httpx.Response:
        return await self.http.post("/api/esims", json=body, headers=consumer.headers)

    async def ordered(self, consumer: Caller) -> str:
        response = await self.order(consumer)
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "pending"
        return str(response.json()["id"])

    async def detail(self, account: Caller, esim_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/esims/{esim_id}", headers=account.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait_for(self, account: Caller, esim_id: str, status: str, within: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            body = await self.detail(account, esim_id)
            if body["status"] == status:
                return body
            assert time.monotonic() < deadline, f"still {body['status']} after {within}s, expected {status}"
            await asyncio.sleep(0.1)

    def orders_of(self, email: str) -> list[dict[str, Any]]:
        return [o for oid, o in self.sim.state.orders.items() if self.sim.state.order_email.get(oid) == email]

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.sessionmaker() as session:
            return list((await session.execute(text(sql), params)).all())

    async def events(self, esim_id: str) -> list[Any]:
        return await self.rows(
            "SELECT kind, from_status, to_status, applied, source FROM esim_events"
            " WHERE esim_id = CAST(:id AS uuid) ORDER BY created_at",
            id=esim_id,
        )

    async def webhook(self, payload: Any, *, auth: tuple[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return await self.http.post(
            "/api/esims/webhooks/1global",
            json=payload,
            auth=auth or (WEBHOOK_USER, WEBHOOK_PASSWORD),
            **kwargs,
        )


def esim_settings(settings: Settings, sim_url: str, task_queue: str) -> Settings:
    return settings.model_copy(
        update={
            "temporal_task_queue": task_queue,
            "oneglobal_base_url": sim_url,
            "oneglobal_client_id": "covo-test",
            "oneglobal_client_secret": "covo-test-secret",
            "oneglobal_webhook_user": WEBHOOK_USER,
            "oneglobal_webhook_password": WEBHOOK_PASSWORD,
            # The polling fallback, fast enough for a test of webhook silence.
            "esims_poll_seconds": 2.0,
            "esims_poll_fast_for_seconds": 3600.0,
        }
    )


@asynccontextmanager
async def serve_api(settings: Settings, port: int) -> AsyncIterator[None]:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        assert not task.done() and time.monotonic() < deadline, "the API did not start"
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
async def esims(
    settings: Settings,
    temporal_client: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
) -> AsyncIterator[EsimStack]:
    api_port = free_port()
    webhook_url = f"http://127.0.0.1:{api_port}/api/esims/webhooks/1global"
    async with running(webhook_url, WEBHOOK_USER, WEBHOOK_PASSWORD) as (sim, sim_url):
        configured = esim_settings(settings, sim_url, f"covo-esims-{uuid.uuid4().hex[:8]}")
        async with (
            build_worker(temporal_client, configured, sessionmaker),
            serve_api(configured, api_port),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=60) as http,
            httpx.AsyncClient(base_url=sim_url, timeout=30) as sim_http,
        ):
            yield EsimStack(http, client, sim, sim_http, configured, sessionmaker)


@pytest.fixture
async def tenant_admin(make_account: MakeAccount) -> Account:
    return await make_account("admin")


@pytest.fixture
async def consumer(client: httpx.AsyncClient, tenant_admin: Account) -> SignedUpConsumer:
    """A consumer signed up in the admin's fresh tenant (with a profile and both wallets). Its
    e-mail is unique, so simulator behaviour can target its orders."""
    return await sign_up(client, tenant_admin.tenant_id)
