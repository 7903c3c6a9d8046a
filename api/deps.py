"""Request-scoped resources: the database session (one transaction per request, committed before
the response leaves) and the caller's identity."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from engine import observability
from engine.auth import service as auth
from engine.auth.schemas import Principal
from engine.db.session import unit_of_work
from engine.errors import Forbidden, ServiceUnavailable, Unauthorized
from engine.invalidation import Caches
from engine.settings import Settings
from engine.temporal.client import connect
from engine.workflows.settlement import Settlement


@dataclass
class Resources:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    temporal: Client | None = None
    caches: Caches = field(default_factory=lambda: Caches(ttl=0))
    settlement: Settlement = field(default_factory=lambda: Settlement(timeout_s=0))
    # Set by a process that hosts a worker on this client (server/app.py): called once the lazy
    # connection exists, and starts then ask for eager dispatch to that worker.
    on_connect: Callable[[Client], Awaitable[None]] | None = None
    hosts_worker: bool = False
    _connecting: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def temporal_client(self) -> Client:
        """Connects lazily, so the API starts (and reports not-ready) while Temporal is down.
        The lock makes concurrent first requests share one connection."""
        if self.temporal is not None:
            return self.temporal
        async with self._connecting:
            if self.temporal is None:
                if not self.settings.temporal_address:
                    raise ServiceUnavailable("Temporal is not configured")
                try:
                    # A short patience: a request should fail fast with 503, not hang on a down server.
                    self.temporal = await connect(
                        self.settings.temporal_address,
                        self.settings.temporal_namespace,
                        patience=1.0,
                        api_key=self.settings.temporal_api_key_value,
                    )
                except Exception as exc:
                    raise ServiceUnavailable(f"Temporal unavailable: {exc}")
                if self.on_connect is not None:
                    await self.on_connect(self.temporal)
        return self.temporal


async def resources(request: Request) -> Resources:
    res: Resources = request.app.state.resources
    return res


async def get_session(res: Annotated[Resources, Depends(resources)]) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: routers and services only flush; this commits after the
    endpoint returns, then runs the work services registered with `engine.db.session.after_commit`
    (outbox hand-off, event dispatch). An exception rolls back and drops that work."""
    async with unit_of_work(res.sessionmaker) as session:
        yield session


# Function scope: the commit runs when the endpoint returns, before the response is sent (the
# default request scope would commit only after the client already has its answer).
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
Res = Annotated[Resources, Depends(resources)]


def credential(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if value and scheme.lower() in ("bearer", "apikey"):
        return scheme.lower(), value.strip()
    if request.headers.get("x-api-key"):
        return "apikey", request.headers["x-api-key"].strip()
    cookie = request.cookies.get("auth_token")
    return ("bearer", cookie) if cookie else None


async def principal_of(session: AsyncSession, found: tuple[str, str] | None, res: Resources) -> Principal | None:
    """Who a credential (from `credential`) names, or None."""
    if found is None:
        return None
    scheme, value = found
    if scheme == "apikey" or value.startswith(auth.API_KEY_PREFIX):
        return await auth.principal_from_api_key(session, value)
    return await _bearer_principal(session, value, res)


async def current_principal(request: Request, session: Session, res: Res) -> Principal:
    return await _authenticated(request, session, res)


async def _authenticated(request: Request, session: AsyncSession, res: Resources) -> Principal:
    principal = await principal_of(session, credential(request), res)
    if principal is None:
        raise Unauthorized("Unauthorized")
    request.state.principal = principal
    observability.tenant_id.set(str(principal.tenant_id))
    return principal


async def _bearer_principal(session: AsyncSession, token: str, res: Resources) -> Principal | None:
    """A verified principal is reused for at most AUTH_CACHE_TTL_SECONDS, and never after a change
    to sessions, users, roles, ACLs or tenants (engine/invalidation.py). Refusals are not cached."""
    principal: Principal | None = await res.caches.principals.through(
        token, lambda: auth.principal_from_access_token(session, token, res.settings)
    )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(*features: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets the request through only when the caller holds every feature."""

    async def check(principal: CurrentPrincipal) -> Principal:
        return _holding(principal, features)

    check.required_features = list(features)  # type: ignore[attr-defined]
    return check


def _holding(principal: Principal, features: tuple[str, ...]) -> Principal:
    if principal.missing(list(features)):
        raise Forbidden("Forbidden", extra={"requiredFeatures": list(features)})
    return principal


@dataclass(frozen=True)
class Caller:
    principal: Principal
    session: AsyncSession
    res: Resources


def caller(*features: str) -> Callable[[Request], AsyncIterator[Caller]]:
    """`require(*features)`, `Session` and `Res` as one dependency, for hot routes (FastAPI's
    resolution of each dependency layer cost ~10% of the rules execution's CPU): the same
    transaction committed before the answer, the same refusals in the same order (401, then 403).
    Use it as `Depends(caller(...), scope="function")`. `authenticates`: api/openapi.py documents
    the 401 as for `CurrentPrincipal`."""

    async def dependency(request: Request) -> AsyncIterator[Caller]:
        res: Resources = request.app.state.resources
        async with unit_of_work(res.sessionmaker) as session:
            principal = _holding(await _authenticated(request, session, res), features)
            yield Caller(principal, session, res)

    dependency.required_features = list(features)  # type: ignore[attr-defined]
    dependency.authenticates = True  # type: ignore[attr-defined]
    return dependency


def features_doc(*features: str) -> dict[str, Any]:
    """OpenAPI text for a route's required features."""
    return {"x-required-features": list(features)}
