"""The FastAPI application factory: every route under /api, one error language."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import (
    api_keys,
    auth,
    business_rules,
    consumers,
    directory,
    errors,
    esims,
    features,
    health,
    invite_codes,
    navigation,
    openapi,
    roles,
    scheduler,
    users,
    wallet,
    workflows,
)
from api import notifications as notifications_api
from api import stream as live_stream
from api import tasks as workflow_tasks
from api.deps import Resources
from api.guard import InputGuard
from api.metrics import Metrics
from api.stream import INBOX_PAGE
from engine import observability
from engine.db.notify import Listener
from engine.db.session import create_engine, create_sessionmaker
from engine.heap import frozen_heap
from engine.invalidation import Caches
from engine.settings import Settings, get_settings
from engine.workflows.settlement import Settlement

ROUTERS = (
    health.router,
    auth.router,
    features.router,
    navigation.router,
    roles.router,
    users.router,
    directory.router,
    api_keys.router,
    workflows.router,
    business_rules.router,
    scheduler.router,
    esims.router,
    consumers.router,
    consumers.signup_router,
    wallet.router,
    invite_codes.router,
)
ROUTERS_INBOX = (workflow_tasks.router, notifications_api.router, live_stream.router)


class RequestId:
    """Gives every request an id (the caller's `x-request-id`, else a new one), kept in
    `request.state.request_id` and echoed in the response header. Plain ASGI: FastAPI's
    `@app.middleware("http")` wraps each request in extra tasks and streams, which cost about a
    millisecond per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = Headers(scope=scope).get("x-request-id") or str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = rid
        observability.request_id.set(rid)  # for the logs (each request runs in its own context)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = rid
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        caches = Caches(ttl=settings.auth_cache_ttl_seconds)
        settlement = Settlement(timeout_s=settings.workflow_start_settle_ms / 1000)
        app.state.resources = Resources(
            settings=settings, sessionmaker=create_sessionmaker(engine), caches=caches, settlement=settlement
        )
        listener = Listener()
        caches.start(engine, listener)
        settlement.attach(listener)
        # Its own URL when DATABASE_URL goes through a transaction pooler (LISTEN needs a session).
        listen_engine = (
            create_engine(settings.database_listen_url, pool_size=1) if settings.database_listen_url else engine
        )
        listener.start(listen_engine)
        try:
            with frozen_heap():
                yield
        finally:
            await live_stream.close_hub(app)
            await listener.stop()
            if listen_engine is not engine:
                await listen_engine.dispose()
            await engine.dispose()

    app = FastAPI(
        title="Covo Engine API",
        version="0.1.0",
        description="Workflows, business rules, scheduled jobs, eSIM provisioning and wallets on Temporal.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry stands down when the instrumentor below is installed, and
        # has nothing to report to otherwise; off, it no longer inspects the providers per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)

    app.add_middleware(InputGuard)
    if settings.metrics_enabled:
        app.add_middleware(Metrics)
    app.add_middleware(RequestId)
    if settings.log_format == "json":
        observability.configure_logging(settings)
    if observability.setup_tracing(settings) is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=observability.setup_tracing(settings), excluded_urls="/api/health/.*,/metrics"
        )

    for router in (*ROUTERS, *ROUTERS_INBOX):
        openapi.document_errors(router)
        app.include_router(router, prefix="/api")
    openapi.without_validation_422(app)
    # The task inbox page: static HTML/JS over the public API (no build step).
    app.mount("/inbox", StaticFiles(directory=INBOX_PAGE, html=True), name="inbox")
    return app
