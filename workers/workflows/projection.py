"""The read-model writer: applies a ProjectionBatch from one instance's workflow in a single
transaction. Every write is idempotent (events by `(instance, seq)`) and monotonic (rows carry
`projection_seq` and only move forward), so retries, replays after a crash and concurrent
flushes from update handlers all converge on the same rows."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from engine import metrics
from engine.db.base import utcnow
from engine.db.models import SideEffectRow, StepInstanceRow, UserTaskRow, WorkflowEventRow, WorkflowInstanceRow
from engine.notifications import service as notifications
from engine.rules import service as rules
from engine.rules.schemas import RuleLogEntry
from engine.workflows.activities import PROJECT
from engine.workflows.schemas import FAILED, TERMINAL_STATUSES, ProjectionBatch

FINISHED_STATUSES = TERMINAL_STATUSES | {FAILED}

# User-task events that notify someone (engine.notifications.service.from_task_events).
TASK_NOTICES = frozenset(
    {"USER_TASK_CREATED", "USER_TASK_REASSIGNED", "USER_TASK_STARTED", "USER_TASK_ESCALATED", "USER_TASK_SLA_BREACHED"}
)
STEP_FIELDS = ("status", "output_data", "error_data", "exited_at", "execution_time_ms", "projection_seq", "updated_at")
TASK_FIELDS = (
    "status",
    "form_data",
    "claimed_by",
    "claimed_at",
    "completed_by",
    "completed_at",
    "comments",
    "assigned_to",
    "assigned_to_roles",
    "due_date",
    "priority",
    "escalated_at",
    "escalated_to",
    "completion_key",
    "projection_seq",
    "updated_at",
)


@functools.cache
def _forward_only(model: Any, updatable: tuple[str, ...]) -> Any:
    """An upsert that only moves a row forward. Built once per table and column set (building
    `excluded` is costly) and executed with the rows as parameters, so SQLAlchemy caches the
    compiled form and batches rows with insertmanyvalues. Core tables: no ORM bulk machinery."""
    table = model.__table__
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: statement.excluded[name] for name in updatable},
        where=table.c.projection_seq < statement.excluded.projection_seq,
    )


@functools.cache
def _insert_new(model: Any, *key: str) -> Any:
    table = model.__table__
    return insert(table).on_conflict_do_nothing(index_elements=[table.c[k] for k in key])


class ProjectionActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    @staticmethod
    async def write_rule_logs(session: AsyncSession, batch: ProjectionBatch) -> None:
        """Rule evaluations done inside the workflow go to the rules' execution log once: each
        carries a workflow-numbered key, claimed in the side-effect ledger in this transaction."""
        by_key = {f"wf-rule-log:{batch.header.instance_id}:{log['seq']}": log for log in batch.rule_logs}
        claimed = insert(SideEffectRow).values([{"idempotency_key": key, "kind": "RULE_LOG"} for key in by_key])
        fresh = set(
            (await session.execute(claimed.on_conflict_do_nothing().returning(SideEffectRow.idempotency_key))).scalars()
        )
        entries = [
            RuleLogEntry.model_validate({k: v for k, v in log.items() if k != "seq"})
            for key, log in by_key.items()
            if key in fresh
        ]
        await rules.write_logs(session, entries)

    @activity.defn(name=PROJECT)
    async def project(self, batch: ProjectionBatch) -> str:
        """Returns the write's real time (ISO 8601), which the interpreter's later stamps start from.
        That time is also each written row's `updated_at`: when the row really changed."""
        h = batch.header
        scope = {"tenant_id": h.tenant_id, "organization_id": h.organization_id}
        written_at = utcnow()
        async with self.sessionmaker() as session, session.begin():
            instance: dict[str, Any] = {
                "id": h.instance_id,
                **scope,
                "definition_id": h.definition_id,
                "workflow_id": h.workflow_id,
                "version": h.version,
                "correlation_key": h.correlation_key,
                "metadata": h.metadata,
                "parent_instance_id": h.parent_instance_id,
                "status": "RUNNING",
                "projection_seq": 0,
            }
            state_fields: list[str] = []
            finished: str | None = None
            if batch.state is not None:
                state = batch.state.model_dump(exclude={"seq"})
                instance.update(state, projection_seq=batch.state.seq, updated_at=written_at)
                state_fields = [*state, "projection_seq", "updated_at"]
                if batch.state.status in FINISHED_STATUSES:
                    # Counted once: only when this batch moves the row into that end state.
                    before = await session.scalar(
                        select(WorkflowInstanceRow.status)
                        .where(WorkflowInstanceRow.id == h.instance_id)
                        .with_for_update()
                    )
                    finished = batch.state.status if before != batch.state.status else None
            if finished is not None:  # one row, so the row count says whether it moved
                result = await session.execute(_forward_only(WorkflowInstanceRow, tuple(state_fields)), instance)
                finished = finished if result.rowcount == 1 else None  # type: ignore[attr-defined]
            elif state_fields:
                await session.execute(_forward_only(WorkflowInstanceRow, tuple(state_fields)), [instance])
            else:
                await session.execute(_insert_new(WorkflowInstanceRow, "id"), [instance])
            # One multi-row statement per table: a flush is a handful of round trips at most.
            if batch.steps:
                rows = [
                    {
                        **step.model_dump(exclude={"seq"}),
                        **scope,
                        "workflow_instance_id": h.instance_id,
                        "projection_seq": step.seq,
                        "updated_at": written_at,
                    }
                    for step in batch.steps
                ]
                await session.execute(_forward_only(StepInstanceRow, STEP_FIELDS), rows)
            if batch.tasks:
                rows = [
                    {
                        **task.model_dump(exclude={"seq", "created_at"}),
                        **scope,
                        "workflow_instance_id": h.instance_id,
                        "projection_seq": task.seq,
                        "created_at": task.created_at or written_at,
                        "updated_at": written_at,
                    }
                    for task in batch.tasks
                ]
                await session.execute(_forward_only(UserTaskRow, TASK_FIELDS), rows)
            if batch.rule_logs:
                await self.write_rule_logs(session, batch)
            if batch.events:
                rows = [
                    {
                        "workflow_instance_id": h.instance_id,
                        **scope,
                        "seq": event.seq,
                        "event_type": event.event_type,
                        "event_data": event.data,
                        "occurred_at": event.occurred_at,
                        "step_instance_id": event.step_instance_id,
                        "branch_key": event.branch_key,
                        "user_id": event.user_id,
                    }
                    for event in batch.events
                ]
                await session.execute(_insert_new(WorkflowEventRow, "workflow_instance_id", "seq"), rows)
                task_events = [
                    (e.seq, e.event_type, e.data, e.user_id) for e in batch.events if e.event_type in TASK_NOTICES
                ]
                if task_events:
                    await notifications.from_task_events(
                        session, h.tenant_id, h.organization_id, h.instance_id, task_events
                    )
        if finished is not None:  # committed
            metrics.INSTANCES_FINISHED.inc(definition=h.workflow_id, status=finished)
        return written_at.isoformat()
