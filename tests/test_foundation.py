from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.auth.seed import admin_password
from engine.db import migrate
from engine.settings import Settings
from tests.conftest import Stack


def test_every_model_change_has_a_migration(stack: Stack) -> None:
    # `alembic check`: raises when autogenerate would produce operations.
    migrate.check(stack.database_url)


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(COVO_ENV="production")
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(COVO_ENV="production", JWT_SECRET="short")
    webhook = {"ONEGLOBAL_WEBHOOK_USER": "oneglobal", "ONEGLOBAL_WEBHOOK_PASSWORD": "p" * 24}
    assert Settings(COVO_ENV="production", JWT_SECRET="s" * 40, **webhook).jwt_secret == "s" * 40


def test_production_requires_the_webhook_credentials() -> None:
    with pytest.raises(ValidationError, match="ONEGLOBAL_WEBHOOK_USER"):
        Settings(COVO_ENV="production", JWT_SECRET="s" * 40)


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(COVO_DATA_DIR=str(tmp_path)).with_generated_secrets()
    second = Settings(COVO_DATA_DIR=str(tmp_path)).with_generated_secrets()
    assert first.jwt_secret == second.jwt_secret
    assert len(first.jwt_secret) >= 32
    assert stat.S_IMODE((tmp_path / "jwt_secret").stat().st_mode) == 0o600
    # The 1Global webhook pair too: the simulator reads the same file.
    assert (first.oneglobal_webhook_user, first.oneglobal_webhook_password) == (
        second.oneglobal_webhook_user,
        second.oneglobal_webhook_password,
    )
    assert first.oneglobal_webhook_password and len(first.oneglobal_webhook_password) >= 24


def test_admin_password_is_generated_once_with_mode_600(tmp_path: Path) -> None:
    password, generated = admin_password(None, tmp_path)
    assert generated and len(password) >= 16
    assert admin_password(None, tmp_path) == (password, False)
    assert stat.S_IMODE((tmp_path / "admin_password").stat().st_mode) == 0o600
    assert admin_password("given-password", tmp_path) == ("given-password", False)


def test_covo_admin_create_seeds_the_admin_once(stack: Stack, tmp_path: Path) -> None:
    covo = str(Path(sys.executable).parent / "covo")
    env = os.environ | {"DATABASE_URL": stack.database_url, "COVO_DATA_DIR": str(tmp_path)}
    args = [covo, "admin", "create", "--email", "cli-admin@covo.test", "--password", "cli-password-1"]
    first = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "created cli-admin@covo.test" in first.stdout
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert "already exists" in again.stdout
