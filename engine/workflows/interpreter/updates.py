"""The commands an instance answers (signal, complete/claim task, advance, cancel, retry) as
Temporal Updates: each validator rejects a bad command before anything is written, and the
`view` query.

Validators of Updates delivered together all run before any handler, so each handler checks
again before its first await (a command sent twice at once is taken once).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from engine.workflows.interpreter import decisions as logic
    from engine.workflows.interpreter.common import InstanceFailed, Token
    from engine.workflows.interpreter.state import InstanceState
    from engine.workflows.schemas import (
        CANCELLABLE_STATUSES,
        CANCELLED,
        COMPENSATED,
        COMPLETED,
        FAILED,
        FORKED,
        PAUSED,
        RUNNING,
        AdvanceRequest,
        CommandRequest,
        InstanceView,
        SignalRequest,
        SignalResult,
        TaskCommand,
        TaskOp,
        TaskView,
    )


def rejected(kind: str, message: str, **details: Any) -> ApplicationError:
    """An update validator's refusal; the API maps `kind` to the HTTP status."""
    return ApplicationError(message, details or None, type=kind, non_retryable=True)


def missing_required_fields(form_schema: dict[str, Any] | None, form_data: Mapping[str, Any]) -> list[str]:
    """Required names of either form-schema shape (`{required: [...]}` JSON Schema, or
    `{fields: [{name, required}]}`) that the submitted data lacks or leaves null."""
    if not form_schema:
        return []
    names = [n for n in form_schema.get("required") or [] if isinstance(n, str)]
    names += [
        f["name"]
        for f in form_schema.get("fields") or []
        if isinstance(f, dict) and f.get("required") and f.get("name")
    ]
    return [n for n in names if form_data.get(n) is None]


class UpdatesMixin(InstanceState):
    def signal_waiters(self) -> list[Token]:
        # A token whose signal was accepted but that has not resumed yet is no longer waiting.
        return [t for t in [self.root, *self.branches.values()] if t.wait == "signal" and t.signal is None]

    def waiting_token(self, signal_name: str) -> Token | None:
        return next((t for t in self.signal_waiters() if t.signal_name == signal_name), None)

    @workflow.update(name="signal")
    async def signal(self, request: SignalRequest) -> SignalResult:
        self.validate_signal(request)  # again: see the module docstring
        token = self.waiting_token(request.signal_name)
        assert token is not None
        token.signal = request
        if token.key is None:
            self.context = logic.merge_signal(self.context, request.signal_name, request.payload, workflow.now())
            self.projection.state_dirty = True
        else:
            token.namespace = logic.merge_signal(token.namespace, request.signal_name, request.payload, workflow.now())
        self.projection.emit(
            "SIGNAL_RECEIVED",
            {"signalName": request.signal_name, "payload": request.payload},
            token=token,
            user_id=request.user_id,
        )
        await self.projection.flush()
        return SignalResult(success=True, branch_key=token.key)

    @signal.validator
    def validate_signal(self, request: SignalRequest) -> None:
        if self.status not in (PAUSED, FORKED):
            raise rejected("CONFLICT", f"Workflow is not paused (status {self.status})", code="WORKFLOW_NOT_PAUSED")
        if self.waiting_token(request.signal_name) is None:
            waiting = [t.signal_name for t in self.signal_waiters()]
            if not waiting:
                raise rejected("CONFLICT", "Workflow is not waiting for a signal", code="NOT_WAITING_FOR_SIGNAL")
            raise rejected(
                "BAD_REQUEST",
                f"Signal name mismatch: waiting for {', '.join(repr(w) for w in waiting)}, got '{request.signal_name}'",
                code="SIGNAL_NAME_MISMATCH",
            )

    def open_task(self, command: TaskCommand) -> TaskOp:
        task = self.tasks.get(command.task_id)
        if task is None:
            raise rejected("NOT_FOUND", "Task not found")
        return task

    @workflow.update(name="complete_task")
    async def complete_task(self, command: TaskCommand) -> TaskView:
        self.validate_complete_task(command)  # again: see the module docstring
        task = self.open_task(command)
        now = workflow.now()
        task.status, task.form_data, task.comments = "COMPLETED", command.form_data, command.comments
        task.completed_by, task.completed_at = command.user_id, now
        self.projection.record_task(task)
        token = next((t for t in [self.root, *self.branches.values()] if t.task_id == task.id), None)
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
        return TaskView(task=task.model_dump(mode="json"))

    @complete_task.validator
    def validate_complete_task(self, command: TaskCommand) -> None:
        task = self.open_task(command)
        if task.status not in ("PENDING", "IN_PROGRESS"):
            raise rejected("CONFLICT", f"Task is already {task.status.lower()}")
        if task.claimed_by and command.user_id and task.claimed_by != command.user_id:
            raise rejected("CONFLICT", "Task is claimed by another user")
        missing = missing_required_fields(task.form_schema, command.form_data)
        if missing:
            raise rejected("BAD_REQUEST", f"Required field missing: {missing[0]}", fields=missing)

    @workflow.update(name="claim_task")
    async def claim_task(self, command: TaskCommand) -> TaskView:
        self.validate_claim_task(command)  # again: see the module docstring
        task = self.open_task(command)
        task.status, task.claimed_by, task.claimed_at = "IN_PROGRESS", command.user_id, workflow.now()
        self.projection.record_task(task)
        self.projection.emit(
            "USER_TASK_STARTED",
            {"taskId": str(task.id), "taskName": task.task_name, "claimedBy": command.user_id},
            user_id=command.user_id,
        )
        await self.projection.flush()
        return TaskView(task=task.model_dump(mode="json"))

    @claim_task.validator
    def validate_claim_task(self, command: TaskCommand) -> None:
        task = self.open_task(command)
        if task.status != "PENDING":
            raise rejected(
                "CONFLICT",
                "Task is already claimed" if task.status == "IN_PROGRESS" else f"Task is {task.status.lower()}",
            )
        if task.assigned_to:
            raise rejected("CONFLICT", "Task is already assigned to a specific user")
        if task.assigned_to_roles and command.user_roles and not set(task.assigned_to_roles) & set(command.user_roles):
            raise rejected("FORBIDDEN", "You are not in this task's role queue")

    @workflow.update(name="advance")
    async def advance_update(self, request: AdvanceRequest) -> InstanceView:
        if request.context_updates:
            self.context = logic.merge_context(self.context, request.context_updates)
            self.projection.state_dirty = True
        allowed, _ = self.conditions.candidates(
            self.read(self.root), self.root.step_id, None, request.trigger_data, request.to_step_id
        )
        # The root token's driver takes the transition; it answers through `advance_result`.
        self.advance = (allowed[0], request)
        self.advance_result = None
        try:
            await workflow.wait_condition(lambda: self.advance_result is not None or self.status == FAILED)
            if self.advance_result is None:
                raise ApplicationError(
                    f"Transition failed: {self.error_message}", type="BAD_REQUEST", non_retryable=True
                )
            result = self.advance_result
        finally:
            self.advance = None
            self.advance_result = None
        await self.projection.flush()
        return result

    @advance_update.validator
    def validate_advance(self, request: AdvanceRequest) -> None:
        if self.status == COMPLETED:
            raise rejected("BAD_REQUEST", "Workflow already completed")
        if self.status in (CANCELLED, COMPENSATED):
            raise rejected("BAD_REQUEST", "Workflow is cancelled")
        if self.status == FAILED:
            raise rejected("BAD_REQUEST", "Workflow has failed. Use retry endpoint to retry.")
        if (
            self.status == FORKED
            or self.root.wait not in ("rest", "task", "signal", "timer")
            or self.advance is not None
        ):
            raise rejected("CONFLICT", f"Workflow is busy (status {self.status}); try again when it waits")
        # Evaluated as the handler will, on the updated context, but without logging the rules.
        context = logic.merge_context(self.context, request.context_updates)
        self.projection.recording = False
        try:
            allowed, blocked = self.conditions.candidates(
                context, self.root.step_id, None, request.trigger_data, request.to_step_id
            )
        except InstanceFailed as exc:
            raise rejected("BAD_REQUEST", exc.message)
        finally:
            self.projection.recording = True
        if allowed:
            return
        if blocked:
            reasons = "; ".join(f"{f['ruleId']}: {f['error']}" for _, fs in blocked for f in fs)
            raise rejected("BAD_REQUEST", "Transition failed", reason=f"Pre-conditions failed: {reasons}")
        if request.to_step_id:
            available = [t.to_step_id for t in logic.outgoing_transitions(self.defn, self.root.step_id)]
            raise rejected(
                "BAD_REQUEST", f"No valid transition to step '{request.to_step_id}'", availableTransitions=available
            )
        raise rejected("BAD_REQUEST", "No valid transitions available", currentStepId=self.root.step_id)

    @workflow.update(name="cancel")
    async def cancel_update(self, request: CommandRequest) -> InstanceView:
        self.cancel_requested = True
        if self.driver is not None and not self.driver.done():
            self.driver.cancel()
        await workflow.wait_condition(lambda: self.status == CANCELLED)
        return self.view()

    @cancel_update.validator
    def validate_cancel(self, request: CommandRequest) -> None:
        if self.status not in CANCELLABLE_STATUSES and self.status != FAILED:
            raise rejected(
                "BAD_REQUEST",
                f"Cannot cancel workflow in {self.status} status. Only running, paused or waiting workflows can be cancelled.",
            )

    @workflow.update(name="retry")
    async def retry_update(self, request: CommandRequest) -> InstanceView:
        self.retry_count += 1
        self.error_message = None
        self.error_details = None
        self.set_status(RUNNING)
        self.projection.emit("WORKFLOW_RETRIED", {"retryCount": self.retry_count}, user_id=request.user_id)
        self.retry_requested = True
        await self.projection.flush()
        return self.view()

    @retry_update.validator
    def validate_retry(self, request: CommandRequest) -> None:
        if self.status != FAILED:
            raise rejected(
                "BAD_REQUEST", f"Cannot retry workflow in {self.status} status. Only FAILED workflows can be retried."
            )

    @workflow.query(name="view")
    def view_query(self) -> InstanceView:
        return self.view()
