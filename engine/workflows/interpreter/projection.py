"""The interpreter's writes to the read model: every row the API reads (instance, step instances,
tasks, events, rule logs) is recorded here and written in batches by the `workflows.project` local
activity.

Writes are numbered by the workflow (`seq`), so a retried or replayed write is a no-op and rows
only move forward; ids derive from the instance id and a seq, so they are the same on replay.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from engine.workflows.activities import PROJECT
    from engine.workflows.interpreter.common import Token
    from engine.workflows.schemas import (
        EventOp,
        InstanceHeader,
        InstanceStateOp,
        ProjectionBatch,
        StepOp,
        TaskOp,
    )

PROJECTION_TIMEOUT = timedelta(seconds=30)


class Projection:
    """Owned by the instance; `state` builds the instance row when it changed (`state_dirty`)."""

    def __init__(
        self,
        header: InstanceHeader,
        state: Callable[[], InstanceStateOp],
        *,
        clock: Callable[[], datetime] = workflow.now,
        observe: Callable[[datetime | None], None] = lambda _moment: None,
    ) -> None:
        self.h = header
        self.state = state
        self.clock = clock
        self.observe = observe
        self.seq = 0
        self.state_dirty = True
        self.recording = True  # False inside Update validators, which must leave no trace
        self._events: list[EventOp] = []
        self._steps: dict[uuid.UUID, StepOp] = {}
        self._task_ops: dict[uuid.UUID, TaskOp] = {}
        self._rule_logs: list[dict[str, Any]] = []
        self._flush_lock = asyncio.Lock()

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def new_id(self, kind: str) -> uuid.UUID:
        return uuid.uuid5(self.h.instance_id, f"{kind}:{self.next_seq()}")

    def emit(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        token: Token | None = None,
        user_id: str | None = None,
        step_instance_id: uuid.UUID | None = None,
    ) -> None:
        self._events.append(
            EventOp(
                seq=self.next_seq(),
                event_type=event_type,
                data=data,
                occurred_at=self.clock(),
                step_instance_id=step_instance_id or (token.step_instance_id if token else None),
                branch_key=token.key if token else None,
                user_id=user_id,
            )
        )

    def record_step(self, op: StepOp) -> None:
        self._steps[op.id] = op

    def record_task(self, op: TaskOp) -> None:
        op.seq = self.next_seq()
        # A snapshot: commands keep changing the instance's live task object.
        self._task_ops[op.id] = op.model_copy()

    def log_rule(self, entry: dict[str, Any]) -> None:
        if self.recording:
            self._rule_logs.append({**entry, "seq": self.next_seq()})

    async def flush(self) -> None:
        """Writes everything recorded since the last flush in one local activity (one Postgres
        transaction). Called before every wait, so the read model is current whenever the
        instance rests, and at the end."""
        async with self._flush_lock:
            if not (self._events or self._steps or self._task_ops or self.state_dirty or self._rule_logs):
                return
            batch = ProjectionBatch(
                header=self.h,
                state=self.state() if self.state_dirty else None,
                events=self._events,
                steps=list(self._steps.values()),
                tasks=list(self._task_ops.values()),
                rule_logs=self._rule_logs,
            )
            self._events, self._steps, self._task_ops, self.state_dirty = [], {}, {}, False
            self._rule_logs = []
            written_at = await workflow.execute_local_activity(
                PROJECT,
                batch,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
            )
            # The write's real time (histories recorded before it was returned carry None).
            self.observe(datetime.fromisoformat(written_at) if isinstance(written_at, str) else None)
