"""`covo esims ...`: eSIM operational commands."""

from __future__ import annotations

import asyncio
import uuid

import typer

from engine.db.session import create_engine, create_sessionmaker
from engine.esims import service
from engine.settings import get_settings

esims_app = typer.Typer(help="eSIM prices and the usage sync.", no_args_is_help=True)


async def _set_price(url: str, tenant: uuid.UUID, product: str, cents: int) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await service.set_price(session, tenant, product, cents)
    finally:
        await engine.dispose()


@esims_app.command("price")
def price(
    tenant: uuid.UUID,
    cents: int,
    product: str = typer.Option(None, help="1Global product offering; defaults to ONEGLOBAL_PRODUCT_OFFERING_ID"),
) -> None:
    """Charge CENTS for an eSIM in TENANT (held on the consumer's wallet, posted when ready); 0 = free."""
    settings = get_settings()
    if not settings.database_url:
        typer.secho("DATABASE_URL is not set (use `covo run` to start the embedded stack).", fg="red", err=True)
        raise typer.Exit(1)
    asyncio.run(_set_price(settings.database_url, tenant, product or settings.oneglobal_product_offering_id, cents))
    typer.echo(f"eSIMs of {product or settings.oneglobal_product_offering_id} cost {cents} cents in tenant {tenant}")


async def _sync(address: str, namespace: str, task_queue: str, tenant: uuid.UUID | None) -> str:
    from engine.temporal.client import connect

    client = await connect(address, namespace)
    result = await service.sync_usage(client, task_queue, tenant_id=tenant)
    return result.model_dump_json()


@esims_app.command("sync-usage")
def sync_usage(tenant: uuid.UUID = typer.Option(None, help="Only this tenant's eSIMs")) -> None:
    """Read 1Global's itemised usage of the last 7 days into the eSIM timelines (prints the counts)."""
    settings = get_settings()
    if not settings.temporal_address:
        typer.secho("TEMPORAL_ADDRESS is not set.", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(
        asyncio.run(_sync(settings.temporal_address, settings.temporal_namespace, settings.temporal_task_queue, tenant))
    )
