"""The user-task commands as Temporal Updates: claim, complete, release, reassign, change (PATCH)
and comment. Each validator applies the permission matrix and form rules of
`engine.workflows.tasks` to the workflow's own task state (the source of truth, so the read model
cannot race a claim) and refuses before anything is written.

Validators of Updates delivered together all run before any handler, so each handler checks the
task's state again before its first await (50 claims at once: one wins, 49 get 409). Handlers do
not re-check permissions or forms: validators are not run on replay, and a handler's answer must
not change when the rules change for histories already recorded.

Every command is an event on the instance carrying an audit line: `actor`, `before`, `after`.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.workflows import tasks as rules
    from engine.workflows.interpreter.common import Token
    from engine.workflows.interpreter.state import InstanceState
    from engine.workflows.interpreter.updates import rejected
    from engine.workflows.schemas import TaskChange, TaskCommand, TaskOp, TaskView

AUDITED = ("status", "assigned_to", "assigned_to_roles", "claimed_by", "due_date", "priority")
_CAMEL = {"assigned_to": "assignedTo", "assigned_to_roles": "assignedToRoles", "claimed_by": "claimedBy",
          "due_date": "dueDate", "priority": "priority", "status": "status"}  # fmt: skip


def audit(task: TaskOp) -> dict[str, Any]:
    dumped = task.model_dump(mode="json", include=set(AUDITED))
    return {_CAMEL[k]: v for k, v in dumped.items()}


def actor_of(command: TaskCommand) -> rules.Actor:
    return rules.Actor.of(command.user_id, command.user_roles, command.manager)


class TaskCommandsMixin(InstanceState):
    def open_task(self, command: TaskCommand) -> TaskOp:
        task = self.tasks.get(command.task_id)
        if task is None:
            raise rejected("NOT_FOUND", "Task not found")
        return task

    def check(self, refusal: rules.Refusal | None) -> None:
        if refusal is not None:
            raise rejected(refusal.kind, refusal.message)

    def task_token(self, task: TaskOp) -> Token | None:
        return next((t for t in [self.root, *self.branches.values()] if t.task_id == task.id), None)

    def task_changed(
        self, event: str, task: TaskOp, command: TaskCommand, before: dict[str, Any], **extra: Any
    ) -> None:
        self.projection.record_task(task)
        self.projection.emit(
            event,
            {"taskId": str(task.id), "taskName": task.task_name, "actor": command.user_id,
             "before": before, "after": audit(task), **extra},
            token=self.task_token(task),
            user_id=command.user_id,
        )  # fmt: skip

    def answer(self, task: TaskOp) -> TaskView:
        return TaskView(task=task.model_dump(mode="json"))

    # ------------------------------------------------------------------ complete

    @workflow.update(name="complete_task")
    async def complete_task(self, command: TaskCommand) -> TaskView:
        task = self.open_task(command)
        if task.status not in rules.OPEN_STATUSES:  # again: see the module docstring
            raise rejected("CONFLICT", f"Task is already {task.status.lower()}")
        now = workflow.now()
        task.status, task.form_data, task.comments = "COMPLETED", command.form_data, command.comments
        task.completed_by, task.completed_at = command.user_id, now
        task.completion_key = command.idempotency_key
        self.projection.record_task(task)
        token = self.task_token(task)
        if token is not None:
            self.write(token, command.form_data)
        self.projection.emit(
            "USER_TASK_COMPLETED",
            {
                "taskId": str(task.id),
                "taskName": task.task_name,
                "completedBy": command.user_id,
                "formData": command.form_data,
            },
            token=token,
            user_id=command.user_id,
        )
        await self.projection.flush()
        return self.answer(task)

    @complete_task.validator
    def validate_complete_task(self, command: TaskCommand) -> None:
        task = self.open_task(command)
        self.check(rules.complete_refusal(task, actor_of(command)))
        errors = rules.form_errors(task.form_schema, command.form_data)
        if errors:
            raise rejected("BAD_REQUEST", "Form validation failed", details=errors)

    # ------------------------------------------------------------------ claim and release

    @workflow.update(name="claim_task")
    async def claim_task(self, command: TaskCommand) -> TaskView:
        task = self.open_task(command)
        if task.status not in rules.OPEN_STATUSES or task.claimed_by:  # again: see the module docstring
            raise rejected("CONFLICT", "Task is already claimed")
        before = audit(task)
        task.claimed_by, task.claimed_at = command.user_id, workflow.now()
        task.status = "IN_PROGRESS" if task.status == "PENDING" else task.status
        self.task_changed("USER_TASK_STARTED", task, command, before, claimedBy=command.user_id)
        await self.projection.flush()
        return self.answer(task)

    @claim_task.validator
    def validate_claim_task(self, command: TaskCommand) -> None:
        self.check(rules.claim_refusal(self.open_task(command), actor_of(command)))

    @workflow.update(name="release_task")
    async def release_task(self, command: TaskChange) -> TaskView:
        task = self.open_task(command)
        if task.status not in rules.OPEN_STATUSES or not task.claimed_by:
            raise rejected("CONFLICT", "Task is not claimed")
        before = audit(task)
        task.claimed_by, task.claimed_at = None, None
        task.status = "PENDING" if task.status == "IN_PROGRESS" else task.status
        self.task_changed("USER_TASK_RELEASED", task, command, before)
        await self.projection.flush()
        return self.answer(task)

    @release_task.validator
    def validate_release_task(self, command: TaskChange) -> None:
        self.check(rules.release_refusal(self.open_task(command), actor_of(command)))

    # ------------------------------------------------------------------ reassign, change, comment

    def reassign(self, task: TaskOp, user: str | None, roles: list[str] | None) -> None:
        task.assigned_to, task.assigned_to_roles = user, (roles or None)
        task.claimed_by, task.claimed_at = None, None
        task.status = "PENDING" if task.status == "IN_PROGRESS" else task.status

    @workflow.update(name="reassign_task")
    async def reassign_task(self, command: TaskChange) -> TaskView:
        task = self.open_task(command)
        if task.status not in rules.OPEN_STATUSES:
            raise rejected("CONFLICT", f"Task is already {task.status.lower()}")
        before = audit(task)
        self.reassign(task, command.assigned_to, command.assigned_to_roles)
        self.task_changed("USER_TASK_REASSIGNED", task, command, before, reason="reassigned")
        await self.projection.flush()
        return self.answer(task)

    @reassign_task.validator
    def validate_reassign_task(self, command: TaskChange) -> None:
        task = self.open_task(command)
        self.check(rules.reassign_refusal(task, actor_of(command), command.assigned_to, command.assigned_to_roles))

    @workflow.update(name="change_task")
    async def change_task(self, command: TaskChange) -> TaskView:
        task = self.open_task(command)
        if task.status not in rules.OPEN_STATUSES:
            raise rejected("CONFLICT", f"Task is already {task.status.lower()}")
        before = audit(task)
        if command.clear_due_date:
            task.due_date = None
        elif command.due_date is not None:
            task.due_date = command.due_date
        if command.priority is not None:
            task.priority = command.priority
        if command.assigned_to_roles is not None:
            task.assigned_to_roles = command.assigned_to_roles or None
        self.task_changed("USER_TASK_UPDATED", task, command, before)
        await self.projection.flush()
        return self.answer(task)

    @change_task.validator
    def validate_change_task(self, command: TaskChange) -> None:
        self.check(rules.change_refusal(self.open_task(command), actor_of(command)))

    @workflow.update(name="comment_task")
    async def comment_task(self, command: TaskChange) -> TaskView:
        task = self.open_task(command)
        self.projection.emit(
            "USER_TASK_COMMENTED",
            {"taskId": str(task.id), "taskName": task.task_name, "actor": command.user_id, "text": command.text},
            token=self.task_token(task),
            user_id=command.user_id,
        )
        await self.projection.flush()
        return self.answer(task)

    @comment_task.validator
    def validate_comment_task(self, command: TaskChange) -> None:
        self.check(rules.comment_refusal(self.open_task(command), actor_of(command)))
        if not (command.text or "").strip():
            raise rejected("BAD_REQUEST", "A comment needs text")
