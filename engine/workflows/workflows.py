"""The definition interpreter: one Temporal workflow per instance, running the pinned definition.

Temporal carries the execution (timers, waits, retries, signals as Updates, crash recovery); this
class only decides what happens next, using the pure functions of `interpreter.decisions`. Every row
the API reads (instance, step instances, tasks, events) is written by this workflow through the
`workflows.project` local activity: events are numbered by the workflow (`seq`), so a retried or
replayed write is a no-op, and rows only move forward.

This module holds the run loop (the root token's driver, failure, cancellation, continue-as-new);
the rest lives in `engine.workflows.interpreter` (see its docstring for the map).

Determinism: this module imports no DB, HTTP or settings code; time comes from `workflow.now()`,
ids from `uuid5(instance id, seq)`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.workflows.definition import Step, StepType, Transition, TransitionTrigger
    from engine.workflows.interpreter import decisions as logic
    from engine.workflows.interpreter.common import (
        WORKFLOW_TYPE,
        AdvanceInterrupt,
        InstanceFailed,
        SignalTimedOut,
        Token,
    )
    from engine.workflows.interpreter.fork import ForkMixin
    from engine.workflows.interpreter.task_commands import TaskCommandsMixin
    from engine.workflows.interpreter.updates import UpdatesMixin
    from engine.workflows.schemas import (
        CANCELLED,
        COMPENSATED,
        COMPLETED,
        FAILED,
        RUNNING,
        InstanceResult,
        InstanceStart,
    )


# Unsandboxed: this module imports only pure code (an import-linter contract in pyproject and the
# replay tests), and the sandbox's per-run module re-imports cost ~25% of the worker's CPU and
# ~40 ms of latency per instance (bench/bench_workflows.py). Determinism rules still apply.
@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class WorkflowInstanceWorkflow(TaskCommandsMixin, UpdatesMixin, ForkMixin):
    @workflow.init
    def __init__(self, start: InstanceStart) -> None:
        # Built from the input here (not in run) so Updates arriving in the first workflow task
        # already see a complete instance.
        super().__init__(start)

    # ------------------------------------------------------------------ entry point

    @workflow.run
    async def run(self, start: InstanceStart) -> InstanceResult:
        if start.resume is None:
            # When Temporal accepted the start (what the API stamped too), not when a worker
            # first ran it: queueing is part of an instance's duration.
            self.started_at = workflow.info().workflow_start_time
            self.projection.emit(
                "WORKFLOW_STARTED",
                {
                    "workflowId": self.h.workflow_id,
                    "version": self.h.version,
                    "startStepId": self.root.step_id,
                    "initialContext": start.context,
                    "metadata": self.h.metadata,
                },
                user_id=self.initiated_by,
            )
        while True:
            self.driver = asyncio.create_task(self.drive())
            try:
                await self.driver
            except asyncio.CancelledError:
                await self.finish_cancelled()
                return self.result()
            except InstanceFailed as failure:
                await self.fail(failure)
                if self.status == COMPENSATED or self.h.parent_instance_id is not None:
                    # A child reports failure to its parent, whose step fails (and can be retried).
                    return self.result()
                try:
                    await workflow.wait_condition(lambda: self.retry_requested or self.cancel_requested)
                except asyncio.CancelledError:
                    self.cancel_requested = True
                if self.cancel_requested:
                    await self.finish_cancelled()
                    return self.result()
                self.retry_requested = False
                continue
            self.status = COMPLETED
            self.completed_at = self.now()
            self.projection.emit("WORKFLOW_COMPLETED", {})
            self.projection.state_dirty = True
            await self.projection.flush()
            return self.result()

    # ------------------------------------------------------------------ continue-as-new

    def history_is_long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= self.start.history_limit

    async def continue_as_new_if_long(self) -> None:
        """Between two root steps, with nothing in flight, a long history is cut by continuing as
        a new run that carries the state (loops that cycle forever stay cheap to replay)."""
        if self.branches or not self.history_is_long():
            return
        # A command that just resumed the token is usually still writing its events: let it finish
        # (a new run must not drop an Update mid-way).
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.projection.flush()
        if not workflow.all_handlers_finished():
            return
        state = self.resume_state()
        workflow.continue_as_new(self.start.model_copy(update={"context": self.context, "resume": state}))

    # ------------------------------------------------------------------ the root token

    async def drive(self) -> None:
        """Runs the root token from where it is until END; raises InstanceFailed."""
        root = self.root
        while True:
            await self.continue_as_new_if_long()
            step = logic.get_step(self.defn, root.step_id)
            triggers: Any = TransitionTrigger.AUTO
            transition: Transition | None = None
            if not self.resume_after_step:
                if step.step_type == StepType.END:
                    await self.run_end(root, step)
                    return
                if step.step_type == StepType.PARALLEL_FORK:
                    await self.run_fork(step)
                    continue
                try:
                    await self.run_step(root, step)
                except SignalTimedOut:
                    transition = self.pick(root, step.step_id, TransitionTrigger.TIMER)
                    if transition is None:
                        raise InstanceFailed(
                            f"{logic.SIGNAL_TIMEOUT}: no signal '{root.signal_name}' arrived in time",
                            {"code": logic.SIGNAL_TIMEOUT, "stepId": step.step_id},
                        )
                except AdvanceInterrupt:
                    transition = await self.take_advance(root)
                triggers = self.resume_triggers(step)
            self.resume_after_step = True
            if transition is None:
                transition = self.pick(root, step.step_id, triggers)
            if transition is None:
                transition = await self.rest(root)
            await self.run_transition(root, transition)
            self.resume_after_step = False
            await self.answer_advance(root)

    async def rest(self, root: Token) -> Transition:
        """No transition may fire on its own: wait (RUNNING) for an advance command."""
        self.set_status(RUNNING)
        root.wait = "rest"
        await self.projection.flush()
        try:
            await workflow.wait_condition(lambda: self.advance is not None)
        finally:
            root.wait = None
        return await self.take_advance(root)

    async def take_advance(self, root: Token) -> Transition:
        assert self.advance is not None
        transition, _request = self.advance
        if root.task_id is not None:
            self.cancel_task(root.task_id, root, reason="advanced")
            root.task_id = None
        self.set_status(RUNNING)
        self.transition_fired = transition.transition_id
        return transition

    async def answer_advance(self, root: Token) -> None:
        """An advance command is answered once its transition fired (and, when it led to END,
        once the instance completed), so the caller sees the resulting state."""
        if self.advance is None or self.advance_result is not None:
            return
        if logic.get_step(self.defn, root.step_id).step_type == StepType.END:
            return  # answered by the run loop after completion
        self.advance_result = self.view()

    async def run_end(self, token: Token, step: Step) -> None:
        step_instance = self.enter_step(token, step)
        self.exit_step(token, step, step_instance, {"stepType": "END", "finalContext": self.read(token)})
        if self.advance is not None and self.advance_result is None:
            self.status = COMPLETED
            self.advance_result = self.view()

    # ------------------------------------------------------------------ failure and cancel

    async def fail(self, failure: InstanceFailed) -> None:
        self.error_message = failure.message
        self.error_details = failure.details or None
        if self.compensable:
            await self.compensate(failure.message)
            if self.status == COMPENSATED:
                self.completed_at = self.now()
                self.projection.state_dirty = True
                await self.projection.flush()
                return
        self.set_status(FAILED)
        self.projection.emit("WORKFLOW_FAILED", {"error": failure.message, "details": failure.details or None})
        await self.projection.flush()

    async def finish_cancelled(self) -> None:
        for task_id in list(self.tasks):
            self.cancel_task(task_id, None, reason="instance cancelled")
        for branch in self.branches.values():
            if branch.status not in (COMPLETED, FAILED):
                branch.status = CANCELLED
        self.set_status(CANCELLED)
        self.cancelled_at = self.now()
        self.projection.emit("WORKFLOW_CANCELLED", {})
        await self.projection.flush()
