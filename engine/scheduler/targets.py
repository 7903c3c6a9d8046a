"""What a scheduled job can run. Each domain registers its targets in code, one decorator each:

    from engine.scheduler.targets import command

    @command("wallet.expire_bonus", "Expire wallet bonuses", feature="wallet.admin.adjust")
    async def expire_bonus(call: TargetCall) -> dict[str, Any]: ...

and lists its module in `TARGET_MODULES` below, so the API (validation, `GET /scheduler/targets`)
and the worker (execution) both see it. Queue targets are named handlers that receive the flat
payload `{...targetPayload, tenantId, organizationId, _idempotencyKey}`; command targets receive
`{...targetPayload, tenantId, organizationId}` and run as the job's creator, bound to the job's
tenant and organization (reference §4.3)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from engine.auth.schemas import Principal
from engine.settings import Settings

TargetType = Literal["queue", "command"]
# Modules whose import registers targets (a new domain adds its own here).
TARGET_MODULES: tuple[str, ...] = (
    "engine.scheduler.builtin_targets",
    "engine.wallet.targets",
    "engine.esims.targets",
)


@dataclass
class TargetCall:
    """One run of a target, inside the activity's unit of work (commit happens after it returns).
    Work that must run after that commit (starting workflows, dispatching events) is registered
    with `engine.db.session.after_commit(call.session, work)`."""

    session: AsyncSession
    temporal: Client
    settings: Settings
    payload: dict[str, Any]
    tenant_id: Any
    organization_id: Any
    # Job id + scheduled time: the same for every retry of one firing.
    idempotency_key: str
    # Command targets: the job's creator, bound to the job's scope; None for queue targets.
    principal: Principal | None = None


Handler = Callable[[TargetCall], Awaitable[Any]]


@dataclass(frozen=True)
class Target:
    kind: TargetType
    name: str
    label: str
    handler: Handler
    # Command targets: the feature the creator must hold when the job fires.
    feature: str | None = None
    # Validated at create/update (400 with the path `targetPayload.<field>`).
    payload_model: type[BaseModel] | None = None


_REGISTRY: dict[tuple[TargetType, str], Target] = {}
_loaded = False


def register(target: Target) -> None:
    _REGISTRY[(target.kind, target.name)] = target


def _decorator(
    kind: TargetType, name: str, label: str, feature: str | None, payload: type[BaseModel] | None
) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        register(Target(kind, name, label, handler, feature, payload))
        return handler

    return wrap


def command(
    name: str, label: str, *, feature: str | None = None, payload: type[BaseModel] | None = None
) -> Callable[[Handler], Handler]:
    return _decorator("command", name, label, feature, payload)


def queue(name: str, label: str, *, payload: type[BaseModel] | None = None) -> Callable[[Handler], Handler]:
    return _decorator("queue", name, label, None, payload)


def load() -> None:
    global _loaded
    if not _loaded:
        for module in TARGET_MODULES:
            importlib.import_module(module)
        _loaded = True


def find(kind: str, name: str | None) -> Target | None:
    load()
    return next((t for (k, n), t in _REGISTRY.items() if k == kind and n == name), None)


def listed(kind: TargetType) -> list[Target]:
    load()
    return sorted((t for (k, _), t in _REGISTRY.items() if k == kind), key=lambda t: t.name)
