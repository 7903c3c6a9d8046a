"""The real API served over HTTP by uvicorn in the test's event loop, on a free port: for what an
in-process transport cannot show (streams, a browser, several API processes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import uvicorn

from api.app import create_app
from engine.devstack import free_port
from engine.settings import Settings


async def serve(settings: Settings, port: int | None = None) -> AsyncIterator[str]:
    """Yields the base URL while the server runs."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
