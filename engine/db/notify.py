"""One Postgres `LISTEN` connection per process, shared by everything that reacts to `NOTIFY`
(cache invalidation, instances settling). It reconnects after a loss and tells its subscribers
whether it is listening: while it is not, a notification can be missed, so they fall back to
their safe behaviour (caches off, starts answered without waiting)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0


class Listener:
    def __init__(self) -> None:
        self._handlers: dict[str, Callable[[str], None]] = {}
        self._state_callbacks: list[Callable[[bool], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self.listening = False

    def subscribe(self, channel: str, handler: Callable[[str], None], on_state: Callable[[bool], None]) -> None:
        """`handler(payload)` for each notification on `channel`; `on_state(listening)` when the
        connection comes up or goes down. Subscribe before `start`."""
        self._handlers[channel] = handler
        self._state_callbacks.append(on_state)

    def start(self, engine: AsyncEngine) -> None:
        if self._handlers:
            self._task = asyncio.create_task(self._listen(engine), name="covo-notify-listener")

    async def stop(self) -> None:
        self._stopped.set()
        self._set_state(False)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _set_state(self, listening: bool) -> None:
        self.listening = listening
        for callback in self._state_callbacks:
            callback(listening)

    def _notified(self, _connection: Any, _pid: int, channel: str, payload: str) -> None:
        handler = self._handlers.get(channel)
        if handler is not None:
            handler(payload)

    async def _listen(self, engine: AsyncEngine) -> None:
        while not self._stopped.is_set():
            try:
                await self._listen_once(engine)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("notification listener lost; reconnecting", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), RECONNECT_SECONDS)

    async def _listen_once(self, engine: AsyncEngine) -> None:
        lost = asyncio.Event()
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            raw.add_termination_listener(lambda _c: lost.set())
            for channel in self._handlers:
                await raw.add_listener(channel, self._notified)
            self._set_state(True)
            try:
                await lost.wait()
            finally:
                self._set_state(False)
                with contextlib.suppress(Exception):
                    for channel in self._handlers:
                        await raw.remove_listener(channel, self._notified)
                await conn.invalidate()  # not returned to the pool
