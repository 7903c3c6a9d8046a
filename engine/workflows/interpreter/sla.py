"""SLAs and escalation of user tasks, on durable Temporal timers inside the instance's workflow.

A task with an `slaDuration` or `escalationRules` gets a watcher (an asyncio task of the workflow)
that waits for each moment of `engine.workflows.tasks.escalation_plan` with
`wait_condition(task closed, timeout=...)`: when the task completes or is cancelled (the instance
cancelled or advanced past it) the wait ends and the pending timer is cancelled; otherwise, at the
moment, the breach is recorded and the rules act. Timers are in the workflow's history, so they
survive a worker restart.

Instances started before this existed have no timers: the watcher is guarded by
`workflow.patched(SLA_PATCH)`, so their histories replay unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.workflows import tasks as rules
    from engine.workflows.definition import EscalationRule, UserTaskConfig
    from engine.workflows.interpreter.common import Token
    from engine.workflows.interpreter.state import InstanceState
    from engine.workflows.schemas import InstanceStart, TaskOp

SLA_PATCH = "user-task-sla-timers"


def _snapshot(task: TaskOp) -> dict[str, Any]:
    dumped = task.model_dump(mode="json", include={"status", "assigned_to", "assigned_to_roles", "priority"})
    return {"status": dumped["status"], "assignedTo": dumped["assigned_to"],
            "assignedToRoles": dumped["assigned_to_roles"], "priority": dumped["priority"]}  # fmt: skip


class SlaMixin(InstanceState):
    def __init__(self, start: InstanceStart) -> None:
        super().__init__(start)
        # Held so the event loop's weak references cannot drop a sleeping watcher.
        self.sla_watchers: set[asyncio.Task[None]] = set()

    def start_sla(self, token: Token, task: TaskOp, config: UserTaskConfig | None) -> asyncio.Task[None] | None:
        if config is None or not (task.due_date or config.escalation_rules):
            return None
        if not workflow.patched(SLA_PATCH):
            return None
        watcher = asyncio.create_task(self.watch_sla(token, task.id, config.escalation_rules))
        self.sla_watchers.add(watcher)
        watcher.add_done_callback(self.sla_watchers.discard)
        return watcher

    def task_open(self, task_id: uuid.UUID) -> bool:
        return self.tasks[task_id].status in rules.OPEN_STATUSES

    async def watch_sla(self, token: Token, task_id: uuid.UUID, escalation: list[EscalationRule]) -> None:
        task = self.tasks[task_id]
        assert task.created_at is not None
        breached, acted = False, set[int]()
        while True:
            # Planned again whenever the due date changes (PATCH): the SLA follows it.
            due = task.due_date
            plan = rules.remaining(rules.escalation_plan(task.created_at, due, escalation), breached, acted)
            if not plan:
                return
            moment = plan[0]
            delay = moment.at - workflow.now()
            if delay.total_seconds() > 0:
                with contextlib.suppress(TimeoutError):  # the moment came with the task still open
                    await workflow.wait_condition(
                        lambda due=due: not self.task_open(task_id) or task.due_date != due,  # type: ignore[misc]
                        timeout=delay,
                    )
            if not self.task_open(task_id):
                return
            if task.due_date != due:
                continue
            if moment.breach:
                breached = True
                self.projection.emit(
                    "USER_TASK_SLA_BREACHED",
                    {"taskId": str(task_id), "taskName": task.task_name, "dueDate": rules_iso(task),
                     "assignedTo": task.assigned_to, "assignedToRoles": task.assigned_to_roles,
                     "claimedBy": task.claimed_by},
                    token=token,
                )  # fmt: skip
            for index in moment.rules:
                acted.add(index)
                self.escalate(token, task, escalation[index], moment.trigger)
            await self.projection.flush()

    def escalate(self, token: Token, task: TaskOp, rule: EscalationRule, trigger: str) -> None:
        before = _snapshot(task)
        now = workflow.now()
        base = {"taskId": str(task.id), "taskName": task.task_name, "trigger": trigger, "action": rule.action}
        if rule.action == "reassign":
            task.assigned_to, task.assigned_to_roles = rule.escalate_to, rule.escalate_to_roles or None
            task.claimed_by, task.claimed_at = None, None
            task.status = "PENDING" if task.status == "IN_PROGRESS" else task.status
            task.escalated_at = now
            task.escalated_to = rule.escalate_to or ",".join(rule.escalate_to_roles or [])
            self.projection.record_task(task)
            self.projection.emit(
                "USER_TASK_REASSIGNED",
                {**base, "actor": None, "reason": trigger, "before": before, "after": _snapshot(task)},
                token=token,
            )
        elif rule.action == "escalate":
            task.status = "ESCALATED"
            task.priority = rules.raised_priority(task.priority)
            task.escalated_at = now
            task.escalated_to = rule.escalate_to or task.escalated_to
            self.projection.record_task(task)
            self.projection.emit(
                "USER_TASK_ESCALATED",
                {**base, "escalatedTo": rule.escalate_to, "before": before, "after": _snapshot(task)},
                token=token,
            )
        else:  # notify: the notifications are made from this event by the projection writer
            self.projection.emit(
                "USER_TASK_ESCALATED",
                {**base, "notifyUsers": rule.notify_users or [], "notifyRoles": rule.notify_roles or [],
                 "assignedTo": task.assigned_to, "assignedToRoles": task.assigned_to_roles,
                 "claimedBy": task.claimed_by},
                token=token,
            )  # fmt: skip


def rules_iso(task: TaskOp) -> str | None:
    return task.due_date.isoformat() if task.due_date else None
