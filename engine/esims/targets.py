"""The eSIM domain's scheduler target: usage sync from 1Global (hourly in a shipped schedule)."""

from __future__ import annotations

from typing import Any

from engine.esims import service
from engine.scheduler.targets import TargetCall, queue


@queue("esims.sync_usage", "eSIMs: sync usage from 1Global")
async def sync_usage(call: TargetCall) -> dict[str, Any]:
    # A tenant's job syncs that tenant's eSIMs; a system job syncs every tenant's.
    result = await service.sync_usage(call.temporal, call.settings.temporal_task_queue, tenant_id=call.tenant_id)
    return result.model_dump(mode="json")
