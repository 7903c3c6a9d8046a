"""Logs, traces and the client address behind the reverse proxy, as an operator sees them."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import activity
from temporalio.testing import ActivityEnvironment
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.app import create_app
from api.deps import CurrentPrincipal
from engine import observability
from engine.settings import Settings
from tests.conftest import Account

log = logging.getLogger("covo.test.observability")


@asynccontextmanager
async def serve(app: Any, peer: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    inner: FastAPI = app.app if isinstance(app, ProxyHeadersMiddleware) else app
    async with inner.router.lifespan_context(inner):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@asynccontextmanager
async def captured_json() -> AsyncIterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(observability.JsonFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        log.removeHandler(handler)


async def test_json_logs_carry_request_id_and_tenant(settings: Settings, admin: Account) -> None:
    app = create_app(settings)

    async def noisy(principal: CurrentPrincipal) -> dict[str, str]:
        log.info("doing work", extra={"items": 3})
        return {"ok": "yes"}

    app.add_api_route("/api/test-noisy", noisy, methods=["GET"])
    async with captured_json() as stream, serve(app) as client:
        response = await client.get("/api/test-noisy", headers={**admin.headers, "x-request-id": "req-42"})
        assert response.status_code == 200
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["message"] == "doing work" and entry["level"] == "INFO"
    assert entry["requestId"] == "req-42"
    assert entry["tenantId"] == str(admin.tenant_id)
    assert entry["items"] == 3


async def test_json_logs_inside_an_activity_carry_the_workflow_id() -> None:
    @activity.defn(name="test.logging")
    async def logs_something() -> None:
        log.info("in activity")

    async with captured_json() as stream:
        await ActivityEnvironment().run(logs_something)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["workflowId"] == "test" and entry["message"] == "in activity"


async def test_rate_limits_key_on_the_client_behind_the_proxy(settings: Settings) -> None:
    """As `covo api` serves it: X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS, so two
    clients behind the proxy have their own buckets, and a client cannot pick its own."""
    limited = settings.model_copy(update={"auth_rate_limit": 2, "forwarded_allow_ips": "10.1.2.3"})
    email = f"nobody-{uuid.uuid4().hex[:8]}@covo.test"

    async def attempts(client: httpx.AsyncClient, forwarded_for: str) -> int:
        response = await client.post(
            "/api/auth/login", data={"email": email, "password": "wrong"}, headers={"x-forwarded-for": forwarded_for}
        )
        return response.status_code

    app = ProxyHeadersMiddleware(create_app(limited), trusted_hosts=limited.forwarded_allow_ips)
    async with serve(app, peer="10.1.2.3") as proxy:
        assert [await attempts(proxy, "203.0.113.1") for _ in range(3)] == [401, 401, 429]
        assert await attempts(proxy, "203.0.113.2") == 401  # another client, its own bucket
    async with serve(app, peer="198.51.100.7") as direct:
        assert [await attempts(direct, f"203.0.113.{n}") for n in (10, 11, 12)] == [401, 401, 429]


async def test_tracing_follows_a_request_into_temporal(settings: Settings, admin: Account) -> None:
    traced = settings.model_copy(update={"tracing_enabled": True, "tracing_exporter": "none"})
    provider = observability.setup_tracing(traced)
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    document = json.loads((Path(__file__).parents[1] / "definitions/workflows/checkout.json").read_text())
    document["workflowId"] = f"traced-{uuid.uuid4().hex[:6]}"
    async with serve(create_app(traced)) as client:
        created = await client.post("/api/workflows/definitions", json=document, headers=admin.headers)
        assert created.status_code == 201, created.text
        started = await client.post(
            "/api/workflows/instances",
            json={"workflowId": document["workflowId"], "initialContext": {"customerEmail": "a@b.c", "orderId": 1}},
            headers=admin.headers,
        )
        assert started.status_code == 201, started.text
    finished = spans.get_finished_spans()
    http = [s for s in finished if (s.attributes or {}).get("http.route") == "/api/workflows/instances"]
    temporal = [s for s in finished if s.name.startswith("StartWorkflow:")]
    assert http and temporal
    assert temporal[0].context.trace_id in {s.context.trace_id for s in http}


def test_tracing_is_off_by_default(settings: Settings) -> None:
    assert Settings().tracing_enabled is False
    assert observability.setup_tracing(settings) is None
