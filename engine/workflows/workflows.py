"""The definition interpreter: one Temporal workflow per instance, running the pinned definition.

Temporal carries the execution (timers, waits, retries, signals as Updates, crash recovery); this
class only decides what happens next, using the pure functions of `interpreter_logic`. Every row
the API reads (instance, step instances, tasks, events) is written by this workflow through the
`workflows.project` local activity: events are numbered by the workflow (`seq`), so a retried or
replayed write is a no-op, and rows only move forward.

Determinism: this module imports no DB, HTTP or settings code; time comes from `workflow.now()`,
ids from `uuid5(instance id, seq)`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from engine.rules.jsonlogic import apply as jsonlogic_apply
    from engine.workflows import interpreter_logic as logic
    from engine.workflows.activities import LOAD_DEFINITION, PROJECT, RUN_ACTIVITY
    from engine.workflows.definition import (
        Activity,
        ConditionRef,
        Step,
        StepType,
        Transition,
        TransitionTrigger,
        WorkflowDefinition,
    )
    from engine.workflows.durations import parse_duration
    from engine.workflows.schemas import (
        CANCELLABLE_STATUSES,
        CANCELLED,
        COMPENSATED,
        COMPENSATING,
        COMPLETED,
        FAILED,
        FORKED,
        PAUSED,
        RUNNING,
        WAITING_FOR_ACTIVITIES,
        ActivityRequest,
        ActivityResult,
        AdvanceRequest,
        CommandRequest,
        DefinitionRequest,
        DefinitionSnapshot,
        EventOp,
        InstanceHeader,
        InstanceResult,
        InstanceStart,
        InstanceStateOp,
        InstanceView,
        ProjectionBatch,
        ResumeState,
        SignalRequest,
        SignalResult,
        StepOp,
        TaskCommand,
        TaskOp,
        TaskView,
    )

DEFAULT_ACTIVITY_TIMEOUT = timedelta(seconds=60)
DEFAULT_ACTIVITY_ATTEMPTS = 3
PROJECTION_TIMEOUT = timedelta(seconds=30)
# Where translated reference condition trees read {{today}}, {{user.id}} (engine.rules.execution
# names it too; that module is not imported here because it touches the database).
RULE_CONTEXT_KEY = "$context"
# Errors the activity side marks as the caller's mistake: retrying cannot help.
NON_RETRYABLE = ["ActivityConfigError", "NonRetryable"]


class InstanceFailed(Exception):
    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class SignalTimedOut(Exception):
    pass


class AdvanceInterrupt(Exception):
    """The root token was waiting or resting and an advance command arrived."""


def rejected(kind: str, message: str, **details: Any) -> ApplicationError:
    """An update validator's refusal; the API maps `kind` to the HTTP status."""
    return ApplicationError(message, details or None, type=kind, non_retryable=True)


@dataclass
class Token:
    """Where one thread of execution is: the root, or a parallel branch (`key` = branch key)."""

    key: str | None
    step_id: str
    previous_step_id: str | None = None
    namespace: dict[str, Any] = field(default_factory=dict)
    wait: str | None = None  # "task" | "signal" | "timer" | "rest" | "child" | "activities"
    signal_name: str | None = None
    signal: SignalRequest | None = None
    task_id: uuid.UUID | None = None
    step_instance_id: uuid.UUID | None = None
    status: str = "ACTIVE"


# Unsandboxed: this module imports only pure code (an import-linter contract in pyproject and the
# replay tests), and the sandbox's per-run module re-imports cost ~25% of the worker's CPU and
# ~40 ms of latency per instance (bench/bench_workflows.py). Determinism rules still apply.
@workflow.defn(name="WorkflowInstance", sandboxed=False)
class WorkflowInstanceWorkflow:
    @workflow.init
    def __init__(self, start: InstanceStart) -> None:
        # Built from the input here (not in run) so Updates arriving in the first workflow task
        # already see a complete instance.
        self.h: InstanceHeader = start.header
        self.defn = WorkflowDefinition.model_validate(start.definition)
        self.rules = start.rules
        self.env = start.env
        self.task_queue = start.task_queue or workflow.info().task_queue
        self.initiated_by = start.initiated_by
        self.context: dict[str, Any] = dict(start.context)
        self.root = Token(key=None, step_id=logic.start_step(self.defn).step_id)
        self.seq = 0
        self.status = RUNNING
        self.retry_count = 0
        self.error_message: str | None = None
        self.error_details: dict[str, Any] | None = None
        self.active_fork: str | None = None
        self.pending_transition: dict[str, Any] | None = None
        self.started_at: datetime | None = None
        self.paused_at: datetime | None = None
        self.completed_at: datetime | None = None
        self.cancelled_at: datetime | None = None
        self.branches: dict[str, Token] = {}
        self.tasks: dict[uuid.UUID, TaskOp] = {}
        self.compensable: list[Activity] = []
        self.cancel_requested = False
        self.retry_requested = False
        self.advance: tuple[Transition, AdvanceRequest] | None = None
        self.advance_result: InstanceView | None = None
        self.transition_fired: str | None = None
        self.resume_after_step = False
        self.driver: asyncio.Task[None] | None = None
        self._events: list[EventOp] = []
        self._steps: dict[uuid.UUID, StepOp] = {}
        self._task_ops: dict[uuid.UUID, TaskOp] = {}
        self._state_dirty = True
        self._flush_lock = asyncio.Lock()
        self._rule_logs: list[dict[str, Any]] = []
        self._recording = True  # False inside Update validators, which must leave no trace
        self.start = start
        self.runs = 1
        if start.resume is not None:
            self.restore(start.resume)

    # ------------------------------------------------------------------ entry point

    @workflow.run
    async def run(self, start: InstanceStart) -> InstanceResult:
        if start.resume is None:
            self.started_at = workflow.now()
            self.emit(
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
            self.completed_at = workflow.now()
            self.emit("WORKFLOW_COMPLETED", {})
            self._state_dirty = True
            await self.flush()
            return self.result()

    # ------------------------------------------------------------------ continue-as-new

    def restore(self, state: ResumeState) -> None:
        self.seq = state.seq
        self.status = state.status
        self.root.step_id = state.step_id
        self.root.previous_step_id = state.previous_step_id
        self.resume_after_step = state.resume_after_step
        self.retry_count = state.retry_count
        self.started_at = state.started_at
        self.paused_at = state.paused_at
        self.compensable = [Activity.model_validate(a) for a in state.compensable]
        self.runs = state.runs

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
        await self.flush()
        if not workflow.all_handlers_finished():
            return
        state = ResumeState(
            seq=self.seq,
            status=self.status,
            step_id=self.root.step_id,
            previous_step_id=self.root.previous_step_id,
            resume_after_step=self.resume_after_step,
            retry_count=self.retry_count,
            started_at=self.started_at,
            paused_at=self.paused_at,
            compensable=[a.model_dump(by_alias=True) for a in self.compensable],
            runs=self.runs + 1,
        )
        workflow.continue_as_new(self.start.model_copy(update={"context": self.context, "resume": state}))

    def result(self) -> InstanceResult:
        return InstanceResult(status=self.status, context=self.context, error=self.error_message)

    # ------------------------------------------------------------------ projection

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
                occurred_at=workflow.now(),
                step_instance_id=step_instance_id or (token.step_instance_id if token else None),
                branch_key=token.key if token else None,
                user_id=user_id,
            )
        )

    def set_status(self, status: str) -> None:
        if status == PAUSED and self.status != PAUSED:
            self.paused_at = workflow.now()
        self.status = status
        self._state_dirty = True

    def record_step(self, op: StepOp) -> None:
        self._steps[op.id] = op

    def record_task(self, op: TaskOp) -> None:
        op.seq = self.next_seq()
        self.tasks[op.id] = op
        self._task_ops[op.id] = op.model_copy()

    async def flush(self) -> None:
        """Writes everything recorded since the last flush in one local activity (one Postgres
        transaction). Called before every wait, so the read model is current whenever the
        instance rests, and at the end."""
        async with self._flush_lock:
            if not (self._events or self._steps or self._task_ops or self._state_dirty or self._rule_logs):
                return
            batch = ProjectionBatch(
                header=self.h,
                state=self.state_op() if self._state_dirty else None,
                events=self._events,
                steps=list(self._steps.values()),
                tasks=list(self._task_ops.values()),
                rule_logs=self._rule_logs,
            )
            self._events, self._steps, self._task_ops, self._state_dirty = [], {}, {}, False
            self._rule_logs = []
            await workflow.execute_local_activity(
                PROJECT,
                batch,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
            )

    def state_op(self) -> InstanceStateOp:
        return InstanceStateOp(
            seq=self.next_seq(),
            status=self.status,
            current_step_id=self.root.step_id,
            previous_step_id=self.root.previous_step_id,
            context=self.context,
            error_message=self.error_message,
            error_details=self.error_details,
            pending_transition=self.pending_transition,
            active_fork_step_id=self.active_fork,
            retry_count=self.retry_count,
            started_at=self.started_at,
            paused_at=self.paused_at,
            completed_at=self.completed_at,
            cancelled_at=self.cancelled_at,
        )

    def view(self) -> InstanceView:
        return InstanceView(
            id=self.h.instance_id,
            status=self.status,
            current_step_id=self.root.step_id,
            previous_step_id=self.root.previous_step_id,
            transition_fired=self.transition_fired,
            context=self.context,
            retry_count=self.retry_count,
        )

    # ------------------------------------------------------------------ context helpers

    def read(self, token: Token) -> dict[str, Any]:
        return self.context if token.key is None else logic.branch_view(self.context, token.namespace)

    def write(self, token: Token, updates: Mapping[str, Any] | None) -> None:
        if not updates:
            return
        if token.key is None:
            self.context = logic.merge_context(self.context, updates)
            self._state_dirty = True
        else:
            token.namespace = logic.merge_context(token.namespace, updates)

    def scope(self, token: Token, extra: Mapping[str, Any] | None = None) -> logic.TemplateScope:
        return logic.TemplateScope(
            now=workflow.now(),
            context={**self.read(token), **(extra or {})},
            workflow={
                "instanceId": str(self.h.instance_id),
                "tenantId": str(self.h.tenant_id),
                "organizationId": str(self.h.organization_id) if self.h.organization_id else None,
                "currentStepId": token.step_id,
                "workflowId": self.h.workflow_id,
                "version": self.h.version,
            },
            env=self.env,
        )

    # ------------------------------------------------------------------ conditions and rules

    def rule_passes(
        self,
        ref: ConditionRef,
        data: Mapping[str, Any],
        *,
        event_type: str = "pre_transition",
        entity_id: str | None = None,
    ) -> tuple[bool, str | None]:
        """Evaluates a pinned rule; outside validators the evaluation is logged (written to the
        rules' execution log by the projection activity)."""
        passed, error = self._evaluate_rule(ref, data)
        if self._recording:
            self._rule_logs.append(
                {
                    "tenant_id": str(self.h.tenant_id),
                    "organization_id": str(self.h.organization_id) if self.h.organization_id else None,
                    "rule_id": ref.rule_id,
                    "entity_type": f"workflow:{self.h.workflow_id}:transition",
                    "entity_id": entity_id,
                    "event_type": event_type,
                    "data": {k: v for k, v in data.items() if k != RULE_CONTEXT_KEY},
                    "condition_result": passed,
                    "error": error if error and not error.startswith("Pre-condition") else None,
                    "executed_by": self.initiated_by,
                    "executed_at": workflow.now().isoformat(),
                    "seq": self.next_seq(),
                }
            )
        return passed, error

    def _evaluate_rule(self, ref: ConditionRef, data: Mapping[str, Any]) -> tuple[bool, str | None]:
        rule = self.rules.get(ref.rule_id)
        if rule is None:
            return False, f"Business rule not found: {ref.rule_id}"
        now = workflow.now()
        if not rule.enabled:
            return False, f"Business rule is disabled: {ref.rule_id}"
        if (rule.effective_from and now < rule.effective_from) or (rule.effective_to and now > rule.effective_to):
            return False, f"Business rule is not in effect: {ref.rule_id}"
        try:
            passed = logic.jsonlogic_truthy(jsonlogic_apply(rule.condition, dict(data)))
        except Exception as exc:
            return False, f"Business rule error: {exc}"
        return passed, None if passed else (rule.fail_message or f"Pre-condition '{rule.rule_name}' failed")

    def rule_data(self, token: Token, transition: Transition, trigger_data: Mapping[str, Any] | None) -> dict[str, Any]:
        return {
            "workflowInstanceId": str(self.h.instance_id),
            "workflowId": self.h.workflow_id,
            "fromStepId": transition.from_step_id,
            "toStepId": transition.to_step_id,
            "workflowContext": self.read(token),
            "triggerData": dict(trigger_data or {}),
            RULE_CONTEXT_KEY: {
                "user": {"id": self.initiated_by},
                "tenant": {"id": str(self.h.tenant_id)},
                "today": workflow.now().date().isoformat(),
                "now": logic.iso_timestamp(workflow.now()),
            },
        }

    def failed_pre_conditions(
        self, token: Token, transition: Transition, trigger_data: Mapping[str, Any] | None
    ) -> list[dict[str, Any]]:
        data = self.rule_data(token, transition, trigger_data)
        failures = []
        for ref in transition.pre_conditions:
            passed, error = self.rule_passes(ref, data, entity_id=transition.transition_id)
            if not passed and ref.required:
                rule = self.rules.get(ref.rule_id)
                failures.append({"ruleId": ref.rule_id, "ruleName": rule.rule_name if rule else None, "error": error})
        return failures

    def evaluate_condition(self, rule: Any, data: Mapping[str, Any]) -> Any:
        return jsonlogic_apply(rule, dict(data))

    def candidates(
        self,
        token: Token,
        step_id: str,
        triggers: Any,
        trigger_data: Mapping[str, Any] | None = None,
        to_step_id: str | None = None,
    ) -> tuple[list[Transition], list[tuple[Transition, list[dict[str, Any]]]]]:
        """Transitions whose trigger and inline condition allow them, split into those whose
        pre-conditions pass and those they block."""
        data = logic.condition_data(self.read(token), trigger_data)
        try:
            possible = logic.valid_transitions(
                self.defn, step_id, data, triggers, self.evaluate_condition, to_step_id=to_step_id
            )
        except Exception as exc:
            raise InstanceFailed(f"Transition condition failed to evaluate: {exc}")
        allowed, blocked = [], []
        for transition in possible:
            failures = self.failed_pre_conditions(token, transition, trigger_data)
            (blocked.append((transition, failures)) if failures else allowed.append(transition))
        return allowed, blocked

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

    @staticmethod
    def resume_triggers(step: Step) -> Any:
        # After a wait, transitions named for what ended the wait may fire too.
        if step.step_type == StepType.WAIT_FOR_SIGNAL:
            return (TransitionTrigger.AUTO, TransitionTrigger.SIGNAL)
        if step.step_type == StepType.WAIT_FOR_TIMER:
            return (TransitionTrigger.AUTO, TransitionTrigger.TIMER)
        return TransitionTrigger.AUTO

    def pick(self, token: Token, step_id: str, triggers: Any) -> Transition | None:
        allowed, blocked = self.candidates(token, step_id, triggers)
        for transition, failures in blocked:
            self.emit(
                "TRANSITION_REJECTED",
                {
                    "fromStepId": transition.from_step_id,
                    "toStepId": transition.to_step_id,
                    "transitionId": transition.transition_id,
                    "reason": "Pre-conditions failed",
                    "failedRules": ", ".join(f["ruleId"] for f in failures),
                    "failedRulesDetail": failures,
                },
                token=token,
            )
        return allowed[0] if allowed else None

    async def rest(self, root: Token) -> Transition:
        """No transition may fire on its own: wait (RUNNING) for an advance command."""
        self.set_status(RUNNING)
        root.wait = "rest"
        await self.flush()
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

    # ------------------------------------------------------------------ steps

    def enter_step(self, token: Token, step: Step, input_data: dict[str, Any] | None = None) -> StepOp:
        op = StepOp(
            id=self.new_id("step"),
            seq=self.seq,
            step_id=step.step_id,
            step_name=step.step_name,
            step_type=step.step_type.value,
            status="ACTIVE",
            branch_key=token.key,
            input_data=input_data,
            entered_at=workflow.now(),
            retry_count=self.retry_count,
        )
        token.step_instance_id = op.id
        self.record_step(op)
        self.emit(
            "STEP_ENTERED",
            {"stepId": step.step_id, "stepName": step.step_name, "stepType": step.step_type.value},
            token=token,
        )
        return op

    def exit_step(self, token: Token, step: Step, op: StepOp, output: dict[str, Any] | None) -> None:
        now = workflow.now()
        op = op.model_copy(
            update={
                "status": "COMPLETED",
                "seq": self.next_seq(),
                "output_data": output,
                "exited_at": now,
                "execution_time_ms": int((now - (op.entered_at or now)).total_seconds() * 1000),
            }
        )
        self.record_step(op)
        self.emit(
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
        now = workflow.now()
        self.record_step(
            op.model_copy(
                update={"status": "FAILED", "seq": self.next_seq(), "error_data": {"error": error}, "exited_at": now}
            )
        )
        self.emit("STEP_FAILED", {"stepId": step.step_id, "error": error}, token=token)

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
        await self.flush()
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
            id=self.new_id("task"),
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
        )
        self.record_task(task)
        token.task_id = task.id
        self.emit(
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
        self.record_task(task)
        self.emit(
            "USER_TASK_CANCELLED", {"taskId": str(task_id), "taskName": task.task_name, "reason": reason}, token=token
        )

    async def wait_for_signal(self, token: Token, step: Step) -> dict[str, Any] | None:
        try:
            wait = logic.signal_wait(step, self.scope(token))
        except ValueError as exc:
            raise InstanceFailed(f"Invalid signal timeout: {exc}")
        token.signal_name = wait.signal_name
        token.signal = None
        self.emit(
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
            self.emit("SIGNAL_TIMEOUT", {"signalName": wait.signal_name}, token=token)
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
        self.emit(
            "TIMER_AWAITING",
            {
                "fireAt": logic.iso_timestamp(fire_at),
                "duration": step.config.get("duration"),
                "until": step.config.get("until"),
            },
            token=token,
        )
        await self.wait_on(token, "timer", lambda: False, fire_at - now)
        self.emit("TIMER_FIRED", {"stepId": step.step_id, "firedAt": logic.iso_timestamp(workflow.now())}, token=token)
        return {"firedAt": logic.iso_timestamp(workflow.now())}

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
        child_id = self.new_id("child")
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
        self.emit(
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
        await self.flush()
        try:
            result: InstanceResult = await workflow.execute_child_workflow(
                WorkflowInstanceWorkflow.run,
                InstanceStart(
                    header=header,
                    definition=snapshot.definition,
                    context=child_input,
                    initiated_by=self.initiated_by,
                    rules=snapshot.rules,
                    env=self.env,
                    task_queue=self.task_queue,
                ),
                id=f"wf-{child_id}",
                task_queue=self.task_queue,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
            )
        except ChildWorkflowError as exc:
            raise InstanceFailed(f"Sub-workflow '{snapshot.workflow_id}' failed: {exc.cause or exc}")
        finally:
            token.wait = None
        if result.status != COMPLETED:
            self.emit(
                "SUB_WORKFLOW_FAILED",
                {"childInstanceId": str(child_id), "status": result.status, "error": result.error},
                token=token,
            )
            raise InstanceFailed(
                f"Sub-workflow '{snapshot.workflow_id}' ended {result.status}: {result.error or ''}".strip()
            )
        output = logic.apply_mapping(result.context, call.output_mapping)
        self.write(token, output)
        self.emit("SUB_WORKFLOW_COMPLETED", {"childInstanceId": str(child_id), "outputData": output}, token=token)
        return {"childInstanceId": str(child_id), "output": output}

    # ------------------------------------------------------------------ transitions and activities

    async def run_transition(
        self, token: Token, transition: Transition, trigger_data: Mapping[str, Any] | None = None
    ) -> None:
        outputs: dict[str, Any] = {}
        if transition.activities:
            try:
                outputs = await self.run_activities(token, transition.activities, merge=True)
            except InstanceFailed as failure:
                self.emit(
                    "ACTIVITY_FAILED",
                    {"fromStepId": transition.from_step_id, "toStepId": transition.to_step_id,
                     "transitionId": transition.transition_id, "error": failure.message,
                     "continueOnFailure": transition.continue_on_activity_failure},
                    token=token,
                )  # fmt: skip
                if not transition.continue_on_activity_failure:
                    raise InstanceFailed(f"Activities failed: {failure.message}", failure.details)
        token.previous_step_id = token.step_id
        token.step_id = transition.to_step_id
        if token.key is None:
            self._state_dirty = True
        post_failures = []
        if transition.post_conditions:
            data = self.rule_data(token, transition, trigger_data)
            for ref in transition.post_conditions:
                passed, error = self.rule_passes(
                    ref, data, event_type="post_transition", entity_id=transition.transition_id
                )
                if not passed:
                    post_failures.append({"ruleId": ref.rule_id, "error": error})
            if post_failures:
                self.emit(
                    "TRANSITION_POST_CONDITION_FAILED",
                    {"transitionId": transition.transition_id, "failedRules": post_failures},
                    token=token,
                )
        self.emit(
            "TRANSITION_EXECUTED",
            {"fromStepId": transition.from_step_id, "toStepId": transition.to_step_id,
             "transitionId": transition.transition_id, "transitionName": transition.transition_name,
             "trigger": transition.trigger.value, "preConditionsPassed": True,
             "postConditionsPassed": not post_failures, "activitiesExecuted": len(transition.activities),
             "activityOutputs": list(outputs)},
            token=token,
        )  # fmt: skip

    async def run_activities(self, token: Token, activities: list[Activity], *, merge: bool) -> dict[str, Any]:
        """Runs synchronous activities in order (fail-fast), then the `async: true` ones
        concurrently (the instance shows WAITING_FOR_ACTIVITIES). With `merge`, outputs land in the
        token's context (sync ones under their name, async ones under `<activityId>_result`)."""
        outputs: dict[str, Any] = {}
        for activity in [a for a in activities if not a.async_]:
            outputs[logic.activity_output_key(activity)] = await self.run_activity(token, activity, outputs)
        background = [a for a in activities if a.async_]
        if background:
            for activity in background:
                self.emit(
                    "ACTIVITY_QUEUED",
                    {
                        "activityId": activity.activity_id,
                        "activityName": activity.activity_name,
                        "activityType": activity.activity_type.value,
                        "async": True,
                    },
                    token=token,
                )
            if token.key is None:
                self.set_status(WAITING_FOR_ACTIVITIES)
            await self.flush()
            tasks = [asyncio.create_task(self.run_activity(token, a, outputs)) for a in background]
            try:
                results = await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    if not task.done():
                        task.cancel()
            for activity, result in zip(background, results, strict=True):
                outputs[logic.async_result_key(activity)] = result
                self.emit(
                    "ACTIVITY_COMPLETED",
                    {
                        "activityId": activity.activity_id,
                        "activityName": activity.activity_name,
                        "async": True,
                        "output": result,
                    },
                    token=token,
                )
            if token.key is None:
                self.set_status(RUNNING)
        if merge:
            self.write(token, outputs)
        return outputs

    async def run_activity(self, token: Token, activity: Activity, earlier: Mapping[str, Any]) -> dict[str, Any]:
        scope = self.scope(token, earlier)
        config = logic.render_template(activity.config, scope)
        if activity.activity_type.value == "WAIT":
            # A durable timer: no worker is busy while the instance waits.
            try:
                fire_at = logic.wait_until(config, workflow.now())
            except ValueError as exc:
                raise InstanceFailed(f"WAIT activity '{activity.activity_name}': {exc}")
            delay = max(fire_at - workflow.now(), timedelta(0))
            if delay:
                await workflow.sleep(delay)
            output: dict[str, Any] = {"waited": True, "durationMs": int(delay.total_seconds() * 1000)}
        else:
            output = await self.call_activity(token, activity, config)
        if activity.compensation is not None:
            self.compensable.append(activity)
        return output

    def retry_policy(self, activity: Activity) -> RetryPolicy:
        policy = activity.retry_policy
        if policy is None:
            return RetryPolicy(maximum_attempts=DEFAULT_ACTIVITY_ATTEMPTS, non_retryable_error_types=NON_RETRYABLE)
        initial = policy.initial_interval_ms or policy.backoff_ms or 1000
        return RetryPolicy(
            maximum_attempts=policy.max_attempts,
            initial_interval=timedelta(milliseconds=max(initial, 1)),
            backoff_coefficient=policy.backoff_coefficient or (1.0 if policy.backoff_ms is not None else 2.0),
            maximum_interval=timedelta(milliseconds=policy.max_interval_ms) if policy.max_interval_ms else None,
            non_retryable_error_types=NON_RETRYABLE,
        )

    async def call_activity(self, token: Token, activity: Activity, config: dict[str, Any]) -> dict[str, Any]:
        # The key names this execution of this activity: a Temporal retry reuses it, a later
        # visit of the same step (or an instance retry) gets a new one.
        key = f"wf:{self.h.instance_id}:{self.next_seq()}"
        timeout = DEFAULT_ACTIVITY_TIMEOUT
        if activity.timeout:
            try:
                timeout = parse_duration(activity.timeout)
            except ValueError as exc:
                raise InstanceFailed(f"Activity '{activity.activity_name}' has an invalid timeout: {exc}")
        request = ActivityRequest(
            activity_type=activity.activity_type.value,
            activity_name=activity.activity_name,
            config=config,
            idempotency_key=key,
            instance_id=self.h.instance_id,
            workflow_id=self.h.workflow_id,
            tenant_id=self.h.tenant_id,
            organization_id=self.h.organization_id,
            initiated_by=self.initiated_by,
            context=self.read(token),
        )
        try:
            result: ActivityResult = await workflow.execute_activity(
                RUN_ACTIVITY,
                request,
                result_type=ActivityResult,
                start_to_close_timeout=timeout,
                retry_policy=self.retry_policy(activity),
            )
        except ActivityError as exc:
            cause = exc.cause
            message = str(cause.message if isinstance(cause, ApplicationError) else (cause or exc))
            raise InstanceFailed(
                f"Activity '{activity.activity_name}' ({activity.activity_type.value}) failed: {message}",
                {
                    "activityName": activity.activity_name,
                    "activityType": activity.activity_type.value,
                    "error": message,
                },
            )
        return result.output

    # ------------------------------------------------------------------ parallel branches

    async def run_fork(self, step: Step) -> None:
        root = self.root
        try:
            plan = logic.fork_branches(self.defn, step.step_id)
        except ValueError as exc:
            raise InstanceFailed(str(exc))
        op = self.enter_step(root, step)
        self.active_fork = step.step_id
        self.set_status(FORKED)
        self.branches = {b.key: Token(key=b.key, step_id=step.step_id) for b in plan.branches}
        self.emit(
            "PARALLEL_FORK_OPENED",
            {"forkStepId": step.step_id, "joinStepId": plan.join_step_id, "branchKeys": list(self.branches)},
            token=root,
        )
        await self.flush()
        runners = [
            asyncio.create_task(self.run_branch(branch.transition, self.branches[branch.key], plan.join_step_id))
            for branch in plan.branches
        ]
        try:
            await workflow.wait(runners, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            for runner in runners:
                runner.cancel()
            await asyncio.gather(*runners, return_exceptions=True)
            raise
        failed = next(
            (
                b
                for b, r in zip(plan.branches, runners, strict=True)
                if r.done() and not r.cancelled() and r.exception()
            ),
            None,
        )
        if failed is not None:
            error = runners[plan.branches.index(failed)].exception()
            message = error.message if isinstance(error, InstanceFailed) else str(error)
            self.branches[failed.key].status = FAILED
            self.emit("PARALLEL_BRANCH_FAILED", {"branchKey": failed.key, "error": message}, token=root)
            for branch, runner in zip(plan.branches, runners, strict=True):
                if not runner.done():
                    runner.cancel()
                    self.branches[branch.key].status = CANCELLED
                    self.emit(
                        "PARALLEL_BRANCH_CANCELLED", {"branchKey": branch.key, "reason": "sibling-failed"}, token=root
                    )
            await asyncio.gather(*runners, return_exceptions=True)
            self.fail_step(root, step, op, message)
            self.emit("PARALLEL_FORK_FAILED", {"forkStepId": step.step_id, "failedBranchKey": failed.key}, token=root)
            raise InstanceFailed(f"Parallel branch '{failed.key}' failed: {message}")
        join = logic.get_step(self.defn, plan.join_step_id)
        self.context = logic.merge_join(
            self.context, {key: b.namespace for key, b in self.branches.items()}, join.config.get("outputMapping")
        )
        self.exit_step(root, step, op, {"branches": list(self.branches)})
        self.emit(
            "PARALLEL_JOIN_COMPLETED",
            {"forkStepId": step.step_id, "joinStepId": plan.join_step_id, "mergedBranchKeys": list(self.branches)},
            token=root,
        )
        self.branches = {}
        self.active_fork = None
        root.previous_step_id = step.step_id
        root.step_id = plan.join_step_id
        self.set_status(RUNNING)
        self.resume_after_step = True  # the join itself does nothing; take its outgoing transition

    async def run_branch(self, first: Transition, token: Token, join_step_id: str) -> None:
        await self.run_transition(token, first)
        while token.step_id != join_step_id:
            step = logic.get_step(self.defn, token.step_id)
            transition: Transition | None = None
            try:
                await self.run_step(token, step)
            except SignalTimedOut:
                transition = self.pick(token, step.step_id, TransitionTrigger.TIMER)
                if transition is None:
                    raise InstanceFailed(f"{logic.SIGNAL_TIMEOUT}: no signal '{token.signal_name}' arrived in time")
            if transition is None:
                transition = self.pick(token, step.step_id, self.resume_triggers(step))
            if transition is None:
                raise InstanceFailed(f"No valid transition from step '{step.step_id}' in branch '{token.key}'")
            await self.run_transition(token, transition)
        token.status = COMPLETED
        self.emit("PARALLEL_BRANCH_COMPLETED", {"branchKey": token.key, "joinStepId": join_step_id}, token=token)
        # The branch now waits for its siblings: make its progress visible meanwhile.
        await self.flush()

    # ------------------------------------------------------------------ failure, compensation, cancel

    async def fail(self, failure: InstanceFailed) -> None:
        self.error_message = failure.message
        self.error_details = failure.details or None
        if self.compensable:
            await self.compensate(failure.message)
            if self.status == COMPENSATED:
                self.completed_at = workflow.now()
                self._state_dirty = True
                await self.flush()
                return
        self.set_status(FAILED)
        self.emit("WORKFLOW_FAILED", {"error": failure.message, "details": failure.details or None})
        await self.flush()

    def find_activity(self, activity_id: str) -> Activity | None:
        pools = [
            self.defn.activities,
            *(s.activities for s in self.defn.steps),
            *(t.activities for t in self.defn.transitions),
        ]
        for pool in pools:
            for activity in pool:
                if activity.activity_id == activity_id:
                    return activity
        return None

    async def compensate(self, reason: str) -> None:
        """Saga: undo completed activities that declare a compensation, newest first."""
        done = list(reversed(self.compensable))
        self.compensable = []
        self.set_status(COMPENSATING)
        self.emit("COMPENSATION_STARTED", {"reason": reason, "activities": len(done)})
        await self.flush()
        compensated, errors = 0, []
        for activity in done:
            assert activity.compensation is not None
            undo = self.find_activity(activity.compensation.activity_id)
            if undo is None:
                errors.append(f"compensation activity '{activity.compensation.activity_id}' not found")
                continue
            self.emit(
                "COMPENSATION_ACTIVITY_STARTED",
                {"activityName": activity.activity_name, "compensationActivityId": undo.activity_id},
            )
            try:
                config = logic.render_template(undo.config, self.scope(self.root))
                await self.call_activity(self.root, undo, config)
            except InstanceFailed as exc:
                errors.append(exc.message)
                self.emit(
                    "COMPENSATION_ACTIVITY_FAILED", {"activityName": activity.activity_name, "error": exc.message}
                )
                continue
            compensated += 1
            self.emit(
                "COMPENSATION_ACTIVITY_COMPLETED",
                {"activityName": activity.activity_name, "compensationActivityId": undo.activity_id},
            )
        summary = {
            "totalActivities": len(done),
            "compensatedActivities": compensated,
            "failedCompensations": len(errors),
            "errors": errors,
        }
        if not errors:
            self.set_status(COMPENSATED)
            self.emit("COMPENSATION_COMPLETED", summary)
        else:
            self.emit("COMPENSATION_PARTIAL" if compensated else "COMPENSATION_FAILED", summary)

    async def finish_cancelled(self) -> None:
        for task_id in list(self.tasks):
            self.cancel_task(task_id, None, reason="instance cancelled")
        for branch in self.branches.values():
            if branch.status not in (COMPLETED, FAILED):
                branch.status = CANCELLED
        self.set_status(CANCELLED)
        self.cancelled_at = workflow.now()
        self.emit("WORKFLOW_CANCELLED", {})
        await self.flush()

    # ------------------------------------------------------------------ commands (Updates)

    def signal_waiters(self) -> list[Token]:
        # A token whose signal was accepted but that has not resumed yet is no longer waiting.
        return [t for t in [self.root, *self.branches.values()] if t.wait == "signal" and t.signal is None]

    def waiting_token(self, signal_name: str) -> Token | None:
        return next((t for t in self.signal_waiters() if t.signal_name == signal_name), None)

    @workflow.update(name="signal")
    async def signal(self, request: SignalRequest) -> SignalResult:
        # Validators of Updates delivered together all run before any handler: check again here
        # (before the first await) so a signal sent twice at once is taken once.
        self.validate_signal(request)
        token = self.waiting_token(request.signal_name)
        assert token is not None
        token.signal = request
        if token.key is None:
            self.context = logic.merge_signal(self.context, request.signal_name, request.payload, workflow.now())
            self._state_dirty = True
        else:
            token.namespace = logic.merge_signal(token.namespace, request.signal_name, request.payload, workflow.now())
        self.emit(
            "SIGNAL_RECEIVED",
            {"signalName": request.signal_name, "payload": request.payload},
            token=token,
            user_id=request.user_id,
        )
        await self.flush()
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
        self.validate_complete_task(command)  # again: see `signal`
        task = self.open_task(command)
        now = workflow.now()
        task.status, task.form_data, task.comments = "COMPLETED", command.form_data, command.comments
        task.completed_by, task.completed_at = command.user_id, now
        self.record_task(task)
        token = next((t for t in [self.root, *self.branches.values()] if t.task_id == task.id), None)
        if token is not None:
            self.write(token, command.form_data)
        self.emit(
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
        await self.flush()
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
        self.validate_claim_task(command)  # again: see `signal`
        task = self.open_task(command)
        task.status, task.claimed_by, task.claimed_at = "IN_PROGRESS", command.user_id, workflow.now()
        self.record_task(task)
        self.emit(
            "USER_TASK_STARTED",
            {"taskId": str(task.id), "taskName": task.task_name, "claimedBy": command.user_id},
            user_id=command.user_id,
        )
        await self.flush()
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
            self._state_dirty = True
        allowed, _ = self.candidates(self.root, self.root.step_id, None, request.trigger_data, request.to_step_id)
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
        await self.flush()
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
        context = logic.merge_context(self.context, request.context_updates)
        saved, self.context = self.context, context
        self._recording = False
        try:
            allowed, blocked = self.candidates(
                self.root, self.root.step_id, None, request.trigger_data, request.to_step_id
            )
        except InstanceFailed as exc:
            raise rejected("BAD_REQUEST", exc.message)
        finally:
            self.context = saved
            self._recording = True
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
        self.emit("WORKFLOW_RETRIED", {"retryCount": self.retry_count}, user_id=request.user_id)
        self.retry_requested = True
        await self.flush()
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
