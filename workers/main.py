"""The worker process: connects to Temporal and Postgres, registers everything from the registry,
and on SIGTERM/SIGINT stops polling and drains in-flight activities before exiting."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvloop
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from engine import metrics, observability
from engine.db.session import create_engine, create_sessionmaker
from engine.esims.service import ensure_webhook_sweep_schedule
from engine.heap import frozen_heap
from engine.outbox.service import ensure_sweep_schedule
from engine.scheduler.service import reconcile
from engine.settings import Settings, get_settings
from engine.temporal.client import connect
from workers.registry import build_worker

log = logging.getLogger("covo.worker")


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    if not settings.database_url or not settings.temporal_address:
        raise SystemExit("DATABASE_URL and TEMPORAL_ADDRESS must be set")
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    observability.setup_tracing(settings)
    client = await connect(
        settings.temporal_address,
        settings.temporal_namespace,
        api_key=settings.temporal_api_key_value,
        runtime=metrics_runtime(settings),
    )
    await ensure_sweep_schedule(client, settings.temporal_task_queue)
    sessionmaker = create_sessionmaker(engine)
    await reconcile_schedules(sessionmaker, client, settings.temporal_task_queue)
    await ensure_webhook_sweep_schedule(client, settings.temporal_task_queue)
    worker = build_worker(client, settings, sessionmaker)
    try:
        with frozen_heap():  # what exists now lives as long as the process
            async with worker:
                log.info("worker polling task queue %s", settings.temporal_task_queue)
                await stop.wait()
                log.info("worker draining")
    finally:
        await engine.dispose()


async def reconcile_schedules(sessionmaker: async_sessionmaker[AsyncSession], client: Client, task_queue: str) -> None:
    """Scheduled jobs' rows and their Temporal Schedules made to agree (each outcome is logged).
    A failure is logged and the worker starts anyway: `covo scheduler reconcile` repairs later."""
    try:
        async with sessionmaker() as session, session.begin():
            report = await reconcile(session, client, task_queue)
        log.info(
            "scheduler reconcile: %d created, %d repaired, %d orphans deleted, %d unchanged",
            len(report.created), len(report.repaired), len(report.deleted), report.unchanged,
        )  # fmt: skip
    except Exception:
        log.exception("scheduler reconcile failed")


def metrics_runtime(settings: Settings) -> Runtime | None:
    """With WORKER_METRICS_ADDRESS, a Temporal runtime serving Prometheus metrics there: the SDK's
    own (workflow task latency, activity failures, schedule-to-start) and our business counters,
    which `engine.metrics` now sends to this runtime's meter."""
    if not settings.worker_metrics_address:
        return None
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=settings.worker_metrics_address, counters_total_suffix=True, durations_as_seconds=True
            )
        )
    )
    metrics.use_temporal_runtime(runtime)
    return runtime


def main() -> None:
    observability.configure_logging(get_settings())

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(get_settings(), stop)

    # uvloop: the worker's loop mostly shuttles bytes (Temporal's core, Postgres); its C loop cut
    # the worker's CPU per instance (bench/bench_workflows.py). Workflow code runs on Temporal's
    # own deterministic loop either way.
    uvloop.run(_main())
