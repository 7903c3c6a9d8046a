"""The state of one running instance, shared by the interpreter's mixins: what the instance row
shows, the tokens, the open tasks and the commands in progress, plus the context helpers.

Built from the workflow input alone (and, after continue-as-new, the state the previous run
carried), so it is the same on every replay.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.workflows.definition import Activity, Transition, WorkflowDefinition
    from engine.workflows.interpreter import decisions as logic
    from engine.workflows.interpreter.common import Token
    from engine.workflows.interpreter.conditions import Conditions
    from engine.workflows.interpreter.projection import Projection
    from engine.workflows.schemas import (
        PAUSED,
        RUNNING,
        AdvanceRequest,
        InstanceHeader,
        InstanceResult,
        InstanceStart,
        InstanceStateOp,
        InstanceView,
        ResumeState,
        TaskOp,
    )


class InstanceState:
    def __init__(self, start: InstanceStart) -> None:
        self.h: InstanceHeader = start.header
        self.defn = WorkflowDefinition.model_validate(start.definition)
        self.env = start.env
        self.task_queue = start.task_queue or workflow.info().task_queue
        self.initiated_by = start.initiated_by
        self.context: dict[str, Any] = dict(start.context)
        self.root = Token(key=None, step_id=logic.start_step(self.defn).step_id)
        # The latest real moment this run has seen (activity results, projection writes): inside
        # one workflow task `workflow.now()` stands still, so stamps use `now()` (see `observe`).
        self.observed: datetime | None = None
        self.projection = Projection(self.h, self.state_op, clock=self.now, observe=self.observe)
        self.conditions = Conditions(self.defn, start.rules, self.h, self.initiated_by, self.projection)
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
        self.start = start
        self.runs = 1
        if start.resume is not None:
            self.restore(start.resume)

    # ------------------------------------------------------------------ continue-as-new

    def restore(self, state: ResumeState) -> None:
        self.projection.seq = state.seq
        self.status = state.status
        self.root.step_id = state.step_id
        self.root.previous_step_id = state.previous_step_id
        self.resume_after_step = state.resume_after_step
        self.retry_count = state.retry_count
        self.started_at = state.started_at
        self.paused_at = state.paused_at
        self.compensable = [Activity.model_validate(a) for a in state.compensable]
        self.runs = state.runs

    def resume_state(self) -> ResumeState:
        """What `restore` reads back in the next run."""
        return ResumeState(
            seq=self.projection.seq,
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

    # ------------------------------------------------------------------ the clock of the stamps

    def now(self) -> datetime:
        """When something recorded in the read model happened: `workflow.now()` (the start of the
        current workflow task), moved forward by the real moments activities reported since then.
        Deterministic (those moments are in the history) and used for stamps only, never to decide
        a command (timers keep `workflow.now()`)."""
        current = workflow.now()
        return current if self.observed is None or self.observed < current else self.observed

    def observe(self, moment: datetime | None) -> None:
        if moment is not None and (self.observed is None or moment > self.observed):
            self.observed = moment

    # ------------------------------------------------------------------ status and views

    def set_status(self, status: str) -> None:
        if status == PAUSED and self.status != PAUSED:
            self.paused_at = self.now()
        self.status = status
        self.projection.state_dirty = True

    def state_op(self) -> InstanceStateOp:
        return InstanceStateOp(
            seq=self.projection.next_seq(),
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

    def result(self) -> InstanceResult:
        return InstanceResult(status=self.status, context=self.context, error=self.error_message)

    # ------------------------------------------------------------------ context

    def read(self, token: Token) -> dict[str, Any]:
        return self.context if token.key is None else logic.branch_view(self.context, token.namespace)

    def write(self, token: Token, updates: Mapping[str, Any] | None) -> None:
        if not updates:
            return
        if token.key is None:
            self.context = logic.merge_context(self.context, updates)
            self.projection.state_dirty = True
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
