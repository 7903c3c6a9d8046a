"""A step's lifecycle (entered, exited or failed, each recorded) and the bodies of the step types
that do something: automated activities, user tasks, waits for a signal or a timer, and
sub-workflows run as child workflows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from engine.clock import iso
    from engine.temporal import ids
    from engine.workflows.activities import LOAD_DEFINITION
    from engine.workflows.definition import Step, StepType
    from engine.workflows.durations import parse_duration
    from engine.workflows.interpreter import decisions as logic
    from engine.workflows.interpreter.common import (
        WORKFLOW_TYPE,
        AdvanceInterrupt,
        InstanceFailed,
        SignalTimedOut,
        Token,
    )
    from engine.workflows.interpreter.projection import PROJECTION_TIMEOUT
    from engine.workflows.interpreter.saga import ActivitiesMixin
    from engine.workflows.interpreter.sla import SlaMixin
    from engine.workflows.schemas import (
        COMPLETED,
        PAUSED,
        RUNNING,
        DefinitionRequest,
        DefinitionSnapshot,
        InstanceHeader,
        InstanceResult,
        InstanceStart,
        StepOp,
        TaskOp,
    )
    from engine.workflows.tasks import DEFAULT_PRIORITY


class StepsMixin(SlaMixin, ActivitiesMixin):
    def enter_step(self, token: Token, step: Step, input_data: dict[str, Any] | None = None) -> StepOp:
        op = StepOp(
            id=self.projection.new_id("step"),
            seq=self.projection.seq,
            step_id=step.step_id,
            step_name=step.step_name,
            step_type=step.step_type.value,
            status="ACTIVE",
            branch_key=token.key,
            input_data=input_data,
            entered_at=self.now(),
            retry_count=self.retry_count,
        )
        token.step_instance_id = op.id
        self.projection.record_step(op)
        self.projection.emit(
            "STEP_ENTERED",
            {"stepId": step.step_id, "stepName": step.step_name, "stepType": step.step_type.value},
            token=token,
        )
        return op

    def exit_step(self, token: Token, step: Step, op: StepOp, output: dict[str, Any] | None) -> None:
        now = self.now()
        op = op.model_copy(
            update={
                "status": "COMPLETED",
                "seq": self.projection.next_seq(),
                "output_data": output,
                "exited_at": now,
                "execution_time_ms": int((now - (op.entered_at or now)).total_seconds() * 1000),
            }
        )
        self.projection.record_step(op)
        self.projection.emit(
            "STEP_EXITED",
            {
                "stepId": step.step_id,
                "status": "COMPLETED",
                "executionTimeMs": op.execution_time_ms,
                "hasOutput": bool(output),
            },
            token=token,
        )

    def fail_step(self, token: Token, step: Step, op: StepOp, error: str) -> None:
        now = self.now()
        self.projection.record_step(
            op.model_copy(
                update={
                    "status": "FAILED",
                    "seq": self.projection.next_seq(),
                    "error_data": {"error": error},
                    "exited_at": now,
                }
            )
        )
        self.projection.emit("STEP_FAILED", {"stepId": step.step_id, "error": error}, token=token)

    async def run_step(self, token: Token, step: Step) -> None:
        if step.step_type in (StepType.START, StepType.PARALLEL_JOIN):
            return
        op = self.enter_step(token, step)
        try:
            output = await self.step_body(token, step)
        except InstanceFailed as failure:
            self.fail_step(token, step, op, failure.message)
            raise
        except (SignalTimedOut, AdvanceInterrupt):
            self.exit_step(token, step, op, None)
            raise
        self.exit_step(token, step, op, output)

    async def step_body(self, token: Token, step: Step) -> dict[str, Any] | None:
        kind = step.step_type
        if kind == StepType.AUTOMATED:
            results = await self.run_activities(token, step.activities, merge=False)
            return {"activityResults": results} if results else None
        if kind == StepType.USER_TASK:
            return await self.user_task(token, step)
        if kind == StepType.WAIT_FOR_SIGNAL:
            return await self.wait_for_signal(token, step)
        if kind == StepType.WAIT_FOR_TIMER:
            return await self.wait_for_timer(token, step)
        if kind == StepType.SUB_WORKFLOW:
            return await self.sub_workflow(token, step)
        raise InstanceFailed(f"Step type {kind} cannot run here (step '{step.step_id}')")

    async def wait_on(
        self,
        token: Token,
        kind: str,
        predicate: Callable[[], bool],
        timeout: timedelta | None = None,  # noqa: ASYNC109
    ) -> bool:
        """Parks the token until `predicate` holds. The root token's wait is also ended by an
        advance command. Returns False on timeout."""
        token.wait = kind
        if token.key is None:
            self.set_status(PAUSED)
        else:
            token.status = "PAUSED"
        await self.projection.flush()
        is_root = token.key is None
        timed_out = False
        try:
            await workflow.wait_condition(
                lambda: predicate() or (is_root and self.advance is not None), timeout=timeout
            )
        except TimeoutError:
            timed_out = True
        finally:
            token.wait = None
        if is_root:
            self.set_status(RUNNING)
        else:
            token.status = "ACTIVE"
        if timed_out and not predicate():  # what arrived just as time ran out still counts
            return False
        if not predicate():
            raise AdvanceInterrupt()
        return True

    # ------------------------------------------------------------------ user tasks

    async def user_task(self, token: Token, step: Step) -> dict[str, Any] | None:
        config = step.user_task_config
        assigned_to: str | None = None
        roles: list[str] | None = None
        if config is not None:
            if isinstance(config.assigned_to, str):
                assigned_to = config.assigned_to
            elif isinstance(config.assigned_to, list):
                roles = list(config.assigned_to)
            if config.assigned_to_roles:
                roles = [*(roles or []), *config.assigned_to_roles]
        due = None
        if config is not None and config.sla_duration:
            try:
                due = workflow.now() + parse_duration(config.sla_duration)
            except ValueError as exc:
                raise InstanceFailed(f"Invalid slaDuration: {exc}")
        task = TaskOp(
            id=self.projection.new_id("task"),
            seq=0,
            step_instance_id=token.step_instance_id,
            branch_key=token.key,
            task_name=step.step_name,
            description=step.description,
            status="PENDING",
            form_schema=config.form_schema if config else None,
            assigned_to=assigned_to,
            assigned_to_roles=roles,
            due_date=due,
            created_at=workflow.now(),
            priority=DEFAULT_PRIORITY,
        )
        self.tasks[task.id] = task
        self.projection.record_task(task)
        token.task_id = task.id
        self.projection.emit(
            "USER_TASK_CREATED",
            {
                "userTaskId": str(task.id),
                "taskName": task.task_name,
                "assignedTo": assigned_to,
                "assignedToRoles": roles,
            },
            token=token,
        )
        task_id = task.id
        # SLA and escalation timers; they end by themselves once the task is closed.
        self.start_sla(token, task, config)
        try:
            await self.wait_on(token, "task", lambda: self.tasks[task_id].status == "COMPLETED")
        except asyncio.CancelledError:
            self.cancel_task(task_id, token, reason="cancelled")
            raise
        token.task_id = None
        return {"formData": self.tasks[task_id].form_data}

    def cancel_task(self, task_id: uuid.UUID, token: Token | None, reason: str) -> None:
        task = self.tasks.get(task_id)
        if task is None or task.status not in ("PENDING", "IN_PROGRESS"):
            return
        task.status = "CANCELLED"
        self.projection.record_task(task)
        self.projection.emit(
            "USER_TASK_CANCELLED", {"taskId": str(task_id), "taskName": task.task_name, "reason": reason}, token=token
        )

    # ------------------------------------------------------------------ waits

    async def wait_for_signal(self, token: Token, step: Step) -> dict[str, Any] | None:
        try:
            wait = logic.signal_wait(step, self.scope(token))
        except ValueError as exc:
            raise InstanceFailed(f"Invalid signal timeout: {exc}")
        token.signal_name = wait.signal_name
        token.signal = None
        self.projection.emit(
            "SIGNAL_AWAITING",
            {
                "signalName": wait.signal_name,
                "timeout": int(wait.timeout.total_seconds() * 1000) if wait.timeout else None,
                "description": step.description,
            },
            token=token,
        )
        arrived = await self.wait_on(token, "signal", lambda: token.signal is not None, wait.timeout)
        token.signal_name = None
        if not arrived:
            self.projection.emit("SIGNAL_TIMEOUT", {"signalName": wait.signal_name}, token=token)
            raise SignalTimedOut()
        assert token.signal is not None
        return {"signalName": wait.signal_name, "payload": token.signal.payload}

    async def wait_for_timer(self, token: Token, step: Step) -> dict[str, Any] | None:
        now = workflow.now()
        try:
            fire_at = logic.wait_until(step.config, now, self.scope(token))
        except ValueError as exc:
            raise InstanceFailed(str(exc))
        if fire_at <= now:
            return {"timerFiredImmediately": True}
        self.projection.emit(
            "TIMER_AWAITING",
            {
                "fireAt": iso(fire_at),
                "duration": step.config.get("duration"),
                "until": step.config.get("until"),
            },
            token=token,
        )
        await self.wait_on(token, "timer", lambda: False, fire_at - now)
        self.projection.emit("TIMER_FIRED", {"stepId": step.step_id, "firedAt": iso(workflow.now())}, token=token)
        return {"firedAt": iso(workflow.now())}

    # ------------------------------------------------------------------ sub-workflows

    async def sub_workflow(self, token: Token, step: Step) -> dict[str, Any] | None:
        try:
            call = logic.sub_workflow_call(step)
        except ValueError as exc:
            raise InstanceFailed(str(exc))
        try:
            snapshot: DefinitionSnapshot = await workflow.execute_local_activity(
                LOAD_DEFINITION,
                DefinitionRequest(tenant_id=self.h.tenant_id, workflow_id=call.workflow_id, version=call.version),
                result_type=DefinitionSnapshot,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                # The activity raises the service's NotFound / BadRequest (missing or disabled).
                retry_policy=RetryPolicy(maximum_attempts=3, non_retryable_error_types=["NotFound", "BadRequest"]),
            )
        except (ActivityError, ApplicationError) as exc:
            # A failed local activity may surface as its bare ApplicationError.
            cause = exc.cause if isinstance(exc, ActivityError) else exc
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            raise InstanceFailed(f"Sub-workflow '{call.workflow_id}' cannot start: {message}")
        child_input = logic.apply_mapping(self.read(token), call.input_mapping)
        child_id = self.projection.new_id("child")
        header = InstanceHeader(
            instance_id=child_id,
            tenant_id=self.h.tenant_id,
            organization_id=self.h.organization_id,
            definition_id=snapshot.definition_id,
            workflow_id=snapshot.workflow_id,
            version=snapshot.version,
            correlation_key=self.h.correlation_key,
            metadata={
                **self.h.metadata,
                "labels": {"parentInstanceId": str(self.h.instance_id), "parentStepId": step.step_id,
                           "parentStepInstanceId": str(token.step_instance_id)},
            },
            parent_instance_id=self.h.instance_id,
        )  # fmt: skip
        self.projection.emit(
            "SUB_WORKFLOW_STARTED",
            {
                "childInstanceId": str(child_id),
                "subWorkflowId": snapshot.workflow_id,
                "version": snapshot.version,
                "inputData": child_input,
            },
            token=token,
        )
        token.wait = "child"
        await self.projection.flush()
        try:
            # By type name: the workflow class is assembled from this mixin, so it cannot be
            # imported here.
            result = await workflow.execute_child_workflow(
                WORKFLOW_TYPE,
                InstanceStart(
                    header=header,
                    definition=snapshot.definition,
                    context=child_input,
                    initiated_by=self.initiated_by,
                    rules=snapshot.rules,
                    env=self.env,
                    task_queue=self.task_queue,
                ),
                result_type=InstanceResult,
                id=ids.workflow_instance_id(child_id),
                task_queue=self.task_queue,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
            )
        except ChildWorkflowError as exc:
            raise InstanceFailed(f"Sub-workflow '{snapshot.workflow_id}' failed: {exc.cause or exc}")
        finally:
            token.wait = None
        if result.status != COMPLETED:
            self.projection.emit(
                "SUB_WORKFLOW_FAILED",
                {"childInstanceId": str(child_id), "status": result.status, "error": result.error},
                token=token,
            )
            raise InstanceFailed(
                f"Sub-workflow '{snapshot.workflow_id}' ended {result.status}: {result.error or ''}".strip()
            )
        output = logic.apply_mapping(result.context, call.output_mapping)
        self.write(token, output)
        self.projection.emit(
            "SUB_WORKFLOW_COMPLETED", {"childInstanceId": str(child_id), "outputData": output}, token=token
        )
        return {"childInstanceId": str(child_id), "output": output}
