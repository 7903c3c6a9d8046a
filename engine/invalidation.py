"""Short-lived per-process caches (verified principals, rule discovery, the workflow definitions
instances start from) that never outlive a change by more than a bounded time, in any process.

Three things keep them honest:
- Postgres triggers (migrations `9b1f3c2a7d10_change_notify` and
  `b3e7d1f05a92_workflow_definitions_notify`) send `NOTIFY covo_invalidate, '<kind>'`
  in the transaction that changes a watched table, so every process listening learns of a
  committed change within milliseconds, whoever made it (API, worker, psql).
- In the process that made the change, the commit itself drops the caches (an engine hook), so
  that process's next request never sees the old state.
- Every entry expires after `ttl` seconds (`AUTH_CACHE_TTL_SECONDS`, 1 s by default) and the
  caches are off while the listening connection is down: a lost notification delays a revocation
  by at most `ttl`, never longer.

An entry read from the database is stored only if no invalidation happened while it was being
read (generation check), so a change racing a read cannot be cached over.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.db.notify import Listener

CHANNEL = "covo_invalidate"
AUTH = "auth"
RULES = "rules"
WORKFLOWS = "workflows"
# What each kind of cache depends on: a write to any of these tables invalidates it.
WATCHED: dict[str, tuple[str, ...]] = {
    AUTH: ("users", "roles", "user_roles", "role_acls", "user_acls", "auth_sessions", "tenants"),
    RULES: ("business_rules",),
    WORKFLOWS: ("workflow_definitions",),
}
MAX_ENTRIES = 10_000


class TtlCache:
    """Entries valid for `ttl` seconds and until the next invalidation of their kind."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.generation = 0
        self.enabled = False  # on only while the process listens for invalidations
        self._items: dict[Hashable, tuple[float, int, Any]] = {}

    def get(self, key: Hashable) -> Any | None:
        if not self.enabled or self.ttl <= 0:
            return None
        found = self._items.get(key)
        if found is None:
            return None
        stored_at, generation, value = found
        if generation != self.generation or time.monotonic() - stored_at >= self.ttl:
            self._items.pop(key, None)
            return None
        return value

    def put(self, key: Hashable, value: Any, generation: int) -> None:
        """`generation` is `self.generation` read before the database was: a value read across
        an invalidation is not kept."""
        if not self.enabled or self.ttl <= 0 or generation != self.generation:
            return
        if len(self._items) >= MAX_ENTRIES:
            self._items.clear()
        self._items[key] = (time.monotonic(), generation, value)

    def invalidate(self) -> None:
        self.generation += 1
        self._items.clear()

    async def through(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        """The entry for `key`, else what `load()` reads, kept unless it is None or an
        invalidation happened while it was being read."""
        found = self.get(key)
        if found is not None:
            return found
        generation = self.generation
        value = await load()
        if value is not None:
            self.put(key, value, generation)
        return value


class Caches:
    """One per process (per app): the caches and the listener that keeps them current."""

    def __init__(self, ttl: float) -> None:
        self.by_kind: dict[str, TtlCache] = {kind: TtlCache(ttl) for kind in WATCHED}

    @property
    def principals(self) -> TtlCache:
        return self.by_kind[AUTH]

    @property
    def discovery(self) -> TtlCache:
        return self.by_kind[RULES]

    @property
    def workflows(self) -> TtlCache:
        return self.by_kind[WORKFLOWS]

    def invalidate(self, kinds: set[str] | None = None) -> None:
        for kind, cache in self.by_kind.items():
            if kinds is None or kind in kinds:
                cache.invalidate()

    def _enable(self, on: bool) -> None:
        self.invalidate()  # whatever happened while nobody listened is unknown
        for cache in self.by_kind.values():
            cache.enabled = on

    # ------------------------------------------------------------------ wiring

    def start(self, engine: AsyncEngine, listener: Listener) -> None:
        """Hooks the engine's commits and subscribes to invalidations (caches turn on once the
        listener listens; `listener.start` is the caller's)."""
        if all(cache.ttl <= 0 for cache in self.by_kind.values()):
            return
        hook_commits(engine, self.invalidate)
        listener.subscribe(CHANNEL, self._notified, self._enable)

    def _notified(self, payload: str) -> None:
        self.invalidate({payload} if payload in self.by_kind else None)


def written_kinds(statement: str) -> set[str]:
    """The cache kinds a statement invalidates (INSERT/UPDATE/DELETE on a watched table)."""
    head = statement.lstrip()[:6].upper()
    if head not in ("INSERT", "UPDATE", "DELETE"):
        return set()
    return {kind for kind, tables in WATCHED.items() if any(f" {table} " in statement or f" {table}\n" in statement
                                                            for table in tables)}  # fmt: skip


def hook_commits(engine: AsyncEngine, invalidate: Any) -> None:
    """In this process a change is visible to the next request at once: a commit that wrote a
    watched table drops the caches before the response leaves (the NOTIFY reaches the other
    processes)."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _wrote(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        kinds = written_kinds(statement)
        if kinds:
            conn.info.setdefault("covo_invalidates", set()).update(kinds)

    @event.listens_for(sync_engine, "commit")
    def _committed(conn: Any) -> None:
        kinds = conn.info.pop("covo_invalidates", None)
        if kinds:
            invalidate(kinds)

    @event.listens_for(sync_engine, "rollback")
    def _rolled_back(conn: Any) -> None:
        conn.info.pop("covo_invalidates", None)
