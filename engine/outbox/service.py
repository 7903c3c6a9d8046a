"""The outbox sweeper's Temporal Schedule."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from engine.outbox.schemas import SweepOutboxes
from engine.outbox.workflows import OutboxSweepWorkflow
from engine.temporal.ids import outbox_sweep_id

SWEEP_EVERY = timedelta(minutes=1)


def sweep_schedule(task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            OutboxSweepWorkflow.run, SweepOutboxes(), id=outbox_sweep_id(task_queue), task_queue=task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=SWEEP_EVERY)]),
        # A sweep still running makes the next one redundant; after an outage one sweep catches
        # up everything, so the missed ones are not replayed either.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=SWEEP_EVERY),
    )


async def ensure_sweep_schedule(client: Client, task_queue: str) -> ScheduleHandle:
    """Creates the sweep schedule, or brings an existing one up to this code's version. Every
    worker calls it at start, concurrently too; a schedule an operator paused stays paused."""
    schedule = sweep_schedule(task_queue)
    schedule_id = outbox_sweep_id(task_queue)
    try:
        return await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        pass

    def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=dataclasses.replace(schedule, state=current.description.schedule.state))

    handle = client.get_schedule_handle(schedule_id)
    await handle.update(keep_state)
    return handle
