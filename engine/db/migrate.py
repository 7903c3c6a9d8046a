"""Alembic, driven from code (`covo db upgrade`, `covo db check`, `covo db revision`), so no
alembic.ini has to be kept in sync with settings."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from engine.db.session import to_sync_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", to_sync_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str) -> None:
    """Fails when the models have changes that no migration captures."""
    command.check(alembic_config(database_url))


def revision(database_url: str, message: str) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=True)
