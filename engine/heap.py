"""The garbage collector and long-lived processes."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Moves what exists once a process has started (modules, routes, models, SQLAlchemy's
    mappers, the worker's registrations: some 250,000 objects in the API) out of the garbage
    collector's reach while it serves. A full collection otherwise walks all of them: ~140 ms with
    the event loop stopped, every few seconds under load (requests in flight when a young
    collection runs get promoted to the old generation, which triggers the next full one), ~25% of
    the API's CPU in the rules benchmark. Startup objects are long-lived anyway; leaving hands them
    back (several apps start and stop in one test process)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
