"""The outbox sweeper's Temporal Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from engine.outbox.schemas import SweepOutboxes
from engine.outbox.workflows import OutboxSweepWorkflow
from engine.temporal.ids import outbox_sweep_id
from engine.temporal.schedules import ensure_schedule

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
    """Creates the sweep schedule, or brings an existing one up to this code's version."""
    return await ensure_schedule(client, outbox_sweep_id(task_queue), sweep_schedule(task_queue))
