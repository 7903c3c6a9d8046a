"""Schedules that the code owns (sweepers): created at worker start, kept at this code's version."""

from __future__ import annotations

import dataclasses

from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleUpdate,
    ScheduleUpdateInput,
)


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> ScheduleHandle:
    """Creates the schedule, or brings an existing one up to this code's version. Every worker
    calls it at start, concurrently too; a schedule an operator paused stays paused."""
    try:
        return await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        pass

    def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=dataclasses.replace(schedule, state=current.description.schedule.state))

    handle = client.get_schedule_handle(schedule_id)
    await handle.update(keep_state)
    return handle
