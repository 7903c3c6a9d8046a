"""What every part of the interpreter shares: the token and the exceptions that end a wait, a
step or the instance's run."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.workflows.schemas import SignalRequest

# The Temporal workflow type; a sub-workflow step starts a child of the same type.
WORKFLOW_TYPE = "WorkflowInstance"


class InstanceFailed(Exception):
    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class SignalTimedOut(Exception):
    pass


class AdvanceInterrupt(Exception):
    """The root token was waiting or resting and an advance command arrived."""


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
