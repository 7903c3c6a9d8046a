"""The API process as `make run`, `covo api` and the image serve it: the HTTP API and, with
`WORKFLOW_EAGER_START` (the default), a Temporal worker on the workflow task queue that shares the
API's Temporal client.

Why a worker here: a start then asks Temporal for eager dispatch, and the instance's first
workflow task comes back in the start's own answer to this process's worker instead of waiting in
the task queue for a poller. An all-automated instance (its side effects are local activities) then
runs without matching at all. Measured in `make bench` (bench/results/workflows.md) and, on its
own, in `make bench-eager` (bench/results/eager.md).

The hosted worker is the production worker (`workers.registry.build_worker`): it also polls the
queue like any other worker, so every instance runs the same code wherever it lands, and a
standalone worker process (`covo worker`) still runs the schedules' housekeeping and whatever the
API processes don't take. When Temporal is down at startup the API starts anyway (as before); the
worker starts with the API's first successful connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker import _worker as sdk_worker

from api.app import create_app as create_api
from api.deps import Resources
from engine.errors import ServiceUnavailable
from engine.settings import Settings, get_settings
from workers.registry import build_worker

log = logging.getLogger("covo.api.worker")


class HostedWorker:
    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.worker: Worker | None = None
        self.running: asyncio.Task[None] | None = None
        self.starting: asyncio.Task[None] | None = None

    async def start(self, client: Client) -> None:
        """Called with the API's first Temporal connection; the request that connected goes on at once."""
        if self.starting is None:
            self.starting = asyncio.create_task(self._start(client))
            self.starting.add_done_callback(_report_end)

    async def _start(self, client: Client) -> None:
        # Without a build id the SDK hashes the bytecode of every loaded module (2-3 s of CPU
        # here, measured). Done in a thread, so the API keeps answering meanwhile; the worker
        # below then finds it memoized.
        await asyncio.to_thread(sdk_worker.load_default_build_id)
        # Its own identity, so a history shows which tasks an API process ran.
        identity = f"{os.getpid()}@{socket.gethostname()}:api"
        self.worker = build_worker(
            client,
            self.settings,
            self.sessionmaker,
            identity=identity,
            # Remote activities (CALL_API, mail delivery, eSIM calls) stay with the worker processes.
            no_remote_activities=True,
        )
        self.running = asyncio.create_task(self.worker.run())
        self.running.add_done_callback(_report_end)
        log.info("API process hosts a worker on task queue %s", self.settings.temporal_task_queue)

    async def stop(self) -> None:
        """Stops polling and drains what runs (the worker's graceful shutdown), before the API's
        database engine goes away."""
        if self.starting is not None and not self.starting.done():
            self.starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.starting
        if self.worker is None or self.running is None:
            return
        if not self.running.done():
            await self.worker.shutdown()
        with contextlib.suppress(Exception):
            await self.running


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # Starts keep working: eager dispatch falls back to the task queue without a worker here.
        log.error("the API process's worker failed", exc_info=task.exception())


def host_worker(app: FastAPI, settings: Settings) -> None:
    """Wraps the API's lifespan: the worker starts with the first Temporal connection and stops
    before the API's resources close."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            resources: Resources = app.state.resources
            hosted = app.state.hosted_worker = HostedWorker(settings, resources.sessionmaker)
            resources.on_connect = hosted.start
            resources.hosts_worker = True
            connecting = asyncio.create_task(_connect_quietly(resources))
            try:
                yield
            finally:
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting
                await hosted.stop()

    app.router.lifespan_context = lifespan


async def _connect_quietly(resources: Resources) -> None:
    """Connects now rather than on the first request, so the first start can already be eager;
    while Temporal is down the first request connects (and starts the worker) instead."""
    with contextlib.suppress(ServiceUnavailable):
        await resources.temporal_client()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_api(settings)
    if settings.workflow_eager_start:
        host_worker(app, settings)
    return app
