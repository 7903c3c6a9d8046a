from __future__ import annotations

import asyncio
import time

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

# A freshly started server accepts connections before its frontend reports healthy; on a busy
# machine that gap lasted seconds (CI saw "Frontend is not healthy yet"). Connecting waits it out.
CONNECT_PATIENCE_SECONDS = 60.0
_TRANSIENT = ("not healthy yet", "Unavailable", "Connection refused", "transport error")


async def connect(address: str, namespace: str = "default", patience: float = CONNECT_PATIENCE_SECONDS) -> Client:
    """The one way to reach Temporal: every payload goes through the pydantic data converter, so
    workflow, update and activity contracts are typed models on both sides."""
    deadline = time.monotonic() + patience
    delay = 0.1
    while True:
        try:
            return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
        except RuntimeError as exc:
            if time.monotonic() >= deadline or not any(mark in str(exc) for mark in _TRANSIENT):
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)
