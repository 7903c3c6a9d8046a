"""EXECUTE_FUNCTION targets used by the tests (the worker imports this module through
WORKFLOW_FUNCTION_MODULES)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from workers.workflows.functions import FunctionContext, register

COUNTER_TABLE = """
CREATE TABLE IF NOT EXISTS test_side_effects (
    id bigserial PRIMARY KEY,
    instance_id text NOT NULL,
    label text NOT NULL
)"""


@register("test.count")
async def count_side_effect(args: dict[str, Any], ctx: FunctionContext) -> Any:
    """Records one side effect; tests count rows to prove each happened exactly once."""
    await ctx.session.execute(text(COUNTER_TABLE))
    await ctx.session.execute(
        text("INSERT INTO test_side_effects (instance_id, label) VALUES (:i, :l)"),
        {"i": ctx.instance_id, "l": str(args.get("label", ""))},
    )
    return {"counted": args.get("label")}
