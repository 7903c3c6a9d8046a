"""EXECUTE_FUNCTION targets: Python functions registered by name.

A function receives `(args, ctx)`. `ctx.session` is an open transaction that also records the
activity's idempotency key, so whatever the function writes through it happens exactly once even
when Temporal retries the activity or the worker crashes mid-way."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class FunctionContext:
    session: AsyncSession
    idempotency_key: str
    instance_id: str
    workflow_id: str
    tenant_id: str
    organization_id: str | None
    context: dict[str, Any]


WorkflowFunction = Callable[[dict[str, Any], FunctionContext], Awaitable[Any]]
FUNCTIONS: dict[str, WorkflowFunction] = {}


def register(name: str) -> Callable[[WorkflowFunction], WorkflowFunction]:
    def decorator(fn: WorkflowFunction) -> WorkflowFunction:
        FUNCTIONS[name] = fn
        return fn

    return decorator


def load_modules(spec: str) -> None:
    """Imports the comma-separated modules named in settings so their functions register."""
    for module in filter(None, (m.strip() for m in spec.split(","))):
        importlib.import_module(module)


@register("echo")
async def echo(args: dict[str, Any], ctx: FunctionContext) -> Any:
    """Returns its arguments: handy for wiring and for tests."""
    return args


@register("fail")
async def fail(args: dict[str, Any], ctx: FunctionContext) -> Any:
    """Always fails with `args.message`: for exercising failure paths and compensation."""
    from workers.workflows.errors import NonRetryable

    raise NonRetryable(str(args.get("message", "function failed on purpose")))
