"""`covo wallet ...`: the ledger's operational commands."""

from __future__ import annotations

import asyncio
import json

import typer

from engine.db.session import create_engine, create_sessionmaker
from engine.settings import get_settings
from engine.wallet import service
from engine.wallet.schemas import ExpiryReport, ReconcileReport

wallet_app = typer.Typer(help="Wallet ledger checks and scheduled commands.", no_args_is_help=True)


def _database_url() -> str:
    url = get_settings().database_url
    if not url:
        typer.secho("DATABASE_URL is not set (use `covo run` to start the embedded stack).", fg="red", err=True)
        raise typer.Exit(1)
    return url


async def _reconcile(url: str) -> ReconcileReport:
    engine = create_engine(url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            return await service.reconcile(session)
    finally:
        await engine.dispose()


async def _expire(url: str) -> ExpiryReport:
    engine = create_engine(url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await service.expire_bonus(session)
    finally:
        await engine.dispose()


@wallet_app.command("reconcile")
def reconcile() -> None:
    """Check every wallet's cached balance against its entries, the zero global sum and that every
    transaction balances. Prints a JSON report; exits 1 when anything differs."""
    report = asyncio.run(_reconcile(_database_url()))
    typer.echo(json.dumps({"ok": report.ok, **report.model_dump(mode="json")}, indent=2))
    if not report.ok:
        raise typer.Exit(1)


@wallet_app.command("expire-bonus")
def expire_bonus() -> None:
    """Expire the unspent rest of every bonus lot past its expiry (one transaction per lot)."""
    typer.echo(asyncio.run(_expire(_database_url())).model_dump_json())
