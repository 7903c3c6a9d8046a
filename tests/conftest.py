"""One embedded Postgres and one Temporal dev server per test run (started the way `covo run`
starts them); every test gets its own tenant, so tests never see each other's data."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from api.app import create_app
from engine.auth.directory import create_tenant
from engine.auth.security import hash_password
from engine.db import migrate
from engine.db.models import Organization, Role, User, UserRole
from engine.db.session import create_engine, create_sessionmaker
from engine.devstack import EmbeddedPostgres, TemporalDevServer, free_port
from engine.settings import Settings
from engine.temporal.client import connect
from tests import secrets_scan
from workers.registry import build_worker

PASSWORD = "correct-horse-battery"
SUPERADMIN_EMAIL = "root@covo.test"


@dataclass(frozen=True)
class Stack:
    database_url: str
    temporal_address: str
    data_dir: Path


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    data_dir = Path(tempfile.mkdtemp(prefix="covo-test-"))
    postgres = EmbeddedPostgres(data_dir / "postgres", delete_on_stop=True)
    database_url = postgres.start()
    migrate.upgrade(database_url)
    temporal = TemporalDevServer(port=free_port(), log_file=data_dir / "temporal.log")
    try:
        address = temporal.start()
        yield Stack(database_url, address, data_dir)
    finally:
        temporal.stop()
        postgres.stop()


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    return Settings(
        COVO_ENV="test",
        COVO_DATA_DIR=str(stack.data_dir),
        DATABASE_URL=stack.database_url,
        TEMPORAL_ADDRESS=stack.temporal_address,
        TEMPORAL_TASK_QUEUE=f"covo-test-{uuid.uuid4().hex[:8]}",
        JWT_SECRET="test-secret-" + "x" * 40,
        AUTH_RATE_LIMIT=1000,
        DB_POOL_SIZE=5,
        WORKFLOWS_ALLOW_PRIVATE_URLS=True,
        # CALL_API activities reach the API here; tests that need it serve it (see `api_server`).
        INTERNAL_API_URL=f"http://127.0.0.1:{free_port()}",
        WORKFLOW_FUNCTION_MODULES="tests.workflows.functions",
    )


@pytest.fixture(scope="session")
async def sessionmaker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=5)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
async def temporal_client(settings: Settings) -> Client:
    assert settings.temporal_address
    return await connect(settings.temporal_address)


@pytest.fixture(scope="session")
async def worker(
    temporal_client: Client, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Worker]:
    """The production registry, on this run's own task queue."""
    w = build_worker(temporal_client, settings, sessionmaker)
    async with w:
        yield w


async def _lifespan_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", event_hooks=secrets_scan.HOOKS
        ) as client:
            yield client


@pytest.fixture(scope="session")
async def client(settings: Settings, worker: Worker) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _lifespan_client(settings):
        yield c


@pytest.fixture
def make_client(settings: Settings) -> Callable[..., AsyncIterator[httpx.AsyncClient]]:
    """A client for an app built with changed settings (e.g. a tiny rate limit)."""

    def factory(**changes: object) -> AsyncIterator[httpx.AsyncClient]:
        return _lifespan_client(settings.model_copy(update=changes))

    return factory


@pytest.fixture
async def api_server(settings: Settings) -> AsyncIterator[str]:
    """The real API, served by uvicorn in this event loop where the worker's CALL_API activities
    look for it (settings.internal_api_url)."""
    assert settings.internal_api_url
    port = int(settings.internal_api_url.rsplit(":", 1)[1])
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    for _ in range(200):
        if served.started:
            break
        await asyncio.sleep(0.05)
    assert served.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        await task


@dataclass
class Account:
    email: str
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    organization_id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/auth/login", data={"email": email, "password": password})
    assert response.status_code == 200, response.text
    # The shared client must not carry the login cookie into requests meant to be anonymous.
    client.cookies.clear()
    return str(response.json()["token"])


MakeAccount = Callable[..., Awaitable[Account]]


@pytest.fixture
def make_account(client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> MakeAccount:
    """Creates a user with the given seeded roles, in a fresh tenant unless one is given."""
    return account_factory(client, sessionmaker)


def account_factory(client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> MakeAccount:
    """`make_account` for fixtures of a wider scope."""

    async def factory(
        *roles: str,
        tenant_id: uuid.UUID | None = None,
        organization_id: uuid.UUID | None = None,
        email: str | None = None,
    ) -> Account:
        """`organization_id` defaults to the tenant's first organization (created if there is none)."""
        async with sessionmaker() as session, session.begin():
            if tenant_id is None:
                tenant = await create_tenant(session, f"Tenant {uuid.uuid4().hex[:6]}")
                tenant_id = tenant.id
            if organization_id is None:
                org = await session.scalar(select(Organization).where(Organization.tenant_id == tenant_id).limit(1))
                if org is None:
                    org = Organization(id=uuid.uuid4(), tenant_id=tenant_id, name="Main")
                    org.root_id, org.tree_path = org.id, str(org.id)
                    session.add(org)
                    await session.flush()
                organization_id = org.id
            user = User(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                organization_id=organization_id,
                email=email or f"user-{uuid.uuid4().hex[:10]}@covo.test",
                password_hash=hash_password(PASSWORD),
            )
            session.add(user)
            await session.flush()
            for name in roles:
                role = await session.scalar(select(Role).where(Role.tenant_id == tenant_id, Role.name == name))
                assert role is not None, name
                session.add(UserRole(user_id=user.id, role_id=role.id))
        token = await login(client, user.email)
        return Account(user.email, user.id, tenant_id, organization_id, token)

    return factory


@pytest.fixture
async def admin(make_account: MakeAccount) -> Account:
    """A tenant admin (role `admin`, not super admin) in a fresh tenant."""
    return await make_account("admin")


@pytest.fixture
async def superadmin(make_account: MakeAccount) -> Account:
    return await make_account("superadmin", "admin")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("COVO_ENV", "test")
    secrets_scan.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    secrets_scan.report(session)


@pytest.fixture(scope="session")
def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    return asyncio.DefaultEventLoopPolicy()
