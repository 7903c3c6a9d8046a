"""Start admission: `POST /workflows/instances` answers once its instance has settled (left
RUNNING: completed, failed, or paused on a person, a signal or a timer) or after
`WORKFLOW_START_SETTLE_MS`, whichever comes first.

Why: a start used to answer as soon as Temporal accepted it, so a client with N requests in flight
could put any number of instances into Temporal's task queue, where each then waited behind all
the others (bench/bench_workflows.py: 200 starts at concurrency 20 gave POST -> COMPLETED p50 1.4 s
on a quiet machine, nearly all of it queueing). Answering on settlement makes a client's
concurrency the bound on its instances in flight: a burst waits at the API's door, where a client
that gives up has started nothing more, instead of queueing inside Temporal. The answer's body is
unchanged (the instance as started); only its timing moves.

How: a trigger on `workflow_instances` (migration `instance_settled_notify`) sends
`NOTIFY covo_instance_settled, '<id>'` when the projection moves an instance out of RUNNING; each
API process listens (`engine.db.notify.Listener`). While the listener is down a start answers at
once, as before. The instance row's insert (the start's own transaction) holds the row until the
commit, so no notification can come before the waiter is registered.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
from collections.abc import Awaitable, Callable

from engine.db.notify import Listener

CHANNEL = "covo_instance_settled"


class Settlement:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.listening = False
        # Weak: a start whose transaction rolled back drops its waiter without telling us.
        self._waiting: weakref.WeakValueDictionary[str, asyncio.Event] = weakref.WeakValueDictionary()

    def attach(self, listener: Listener) -> None:
        if self.timeout_s > 0:
            listener.subscribe(CHANNEL, self._settled, self._state)

    def expect(self, instance_id: uuid.UUID) -> Callable[[], Awaitable[None]]:
        """Registers a waiter (call before the start's commit); returns the wait, to run after it."""
        if not self.listening:
            return _nothing
        settled = self._waiting[str(instance_id)] = asyncio.Event()

        async def wait() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled.wait(), self.timeout_s)

        return wait

    def _settled(self, payload: str) -> None:
        event = self._waiting.pop(payload, None)
        if event is not None:
            event.set()

    def _state(self, listening: bool) -> None:
        self.listening = listening
        if not listening:  # a notification may be lost now: nobody waits for one
            for event in list(self._waiting.values()):
                event.set()
            self._waiting.clear()


async def _nothing() -> None:
    return None
