"""The worker process: connects to Temporal and Postgres, registers everything from the registry,
and on SIGTERM/SIGINT stops polling and drains in-flight activities before exiting."""

from __future__ import annotations

import asyncio
import logging
import signal

from engine.db.session import create_engine, create_sessionmaker
from engine.esims.service import ensure_webhook_sweep_schedule
from engine.outbox.service import ensure_sweep_schedule
from engine.settings import Settings, get_settings
from engine.temporal.client import connect
from workers.registry import build_worker

log = logging.getLogger("covo.worker")


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    if not settings.database_url or not settings.temporal_address:
        raise SystemExit("DATABASE_URL and TEMPORAL_ADDRESS must be set")
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await ensure_sweep_schedule(client, settings.temporal_task_queue)
    await ensure_webhook_sweep_schedule(client, settings.temporal_task_queue)
    worker = build_worker(client, settings, create_sessionmaker(engine))
    try:
        async with worker:
            log.info("worker polling task queue %s", settings.temporal_task_queue)
            await stop.wait()
            log.info("worker draining")
    finally:
        await engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(get_settings(), stop)

    asyncio.run(_main())
