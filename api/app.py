"""The FastAPI application factory: every route under /api, one error language."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from api import api_keys, auth, business_rules, directory, errors, health, openapi, workflows
from api.deps import Resources
from engine.db.session import create_engine, create_sessionmaker
from engine.settings import Settings, get_settings

ROUTERS = (health.router, auth.router, directory.router, api_keys.router, workflows.router, business_rules.router)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        app.state.resources = Resources(settings=settings, sessionmaker=create_sessionmaker(engine))
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="Covo Engine API",
        version="0.1.0",
        description="Workflows, business rules, scheduled jobs, eSIM provisioning and wallets on Temporal.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    errors.install(app)

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get("x-request-id") or str(uuid.uuid4())
        request.state.request_id = rid
        response = await call_next(request)
        response.headers["x-request-id"] = rid
        return response

    for router in ROUTERS:
        openapi.document_errors(router)
        app.include_router(router, prefix="/api")
    openapi.without_validation_422(app)
    return app
