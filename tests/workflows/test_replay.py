"""Replay: the interpreter must replay the histories of instances it ran, so a code change that would
break running instances (non-determinism) fails here instead of in production.

- `test_live_histories_replay` runs an instance of every step type (the shipped definitions plus
  small inline ones) to its end through the API, fetches each history from Temporal and replays it.
  With COVO_RECORD_HISTORIES=1 (`python bench/record_histories.py`) it also saves them to
  tests/workflows/histories/.
- `test_recorded_histories_replay` replays every saved history with the current code; it needs no
  stack. Re-record only on purpose: a saved history stands for instances started by older code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from tests.workflows.conftest import TERMINAL, WorkflowApi, chain, flow, fn, shipped, step, tr
from workers.registry import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
RECORD = os.environ.get("COVO_RECORD_HISTORIES") == "1"
TASKS = "/api/workflows/tasks"


def production_runner() -> WorkflowRunner:
    """The runner `workers.registry.build_worker` gives the worker (`test_live_histories_replay`
    checks that the two still agree)."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("engine"))


def replayer() -> Replayer:
    return Replayer(
        workflows=list(WORKFLOWS), workflow_runner=production_runner(), data_converter=pydantic_data_converter
    )


def recorded() -> Iterator[Path]:
    return iter(sorted(HISTORIES.glob("*.json")))


# ---------------------------------------------------------------- scenarios

Scenario = Callable[[WorkflowApi], Awaitable[tuple[str, str]]]  # -> (instance id, final status)


async def finish(wf: WorkflowApi, instance_id: str) -> tuple[str, str]:
    done = await wf.wait_status(instance_id, *TERMINAL, "FAILED", timeout=60)
    return instance_id, str(done["status"])


async def checkout(wf: WorkflowApi) -> tuple[str, str]:
    _, instance = await wf.run(shipped("checkout"), initialContext={"customerEmail": "buyer@covo.test", "orderId": 7})
    return await finish(wf, instance["id"])


async def approval(wf: WorkflowApi, approved: bool) -> tuple[str, str]:
    _, instance = await wf.run(
        shipped("approval"), initialContext={"requestId": "PR-1", "requesterEmail": "requester@covo.test"}
    )
    [task] = await wf.wait_task(instance["id"])
    claimed = await wf.post(f"{TASKS}/{task['id']}/claim")
    assert claimed.status_code == 200, claimed.text
    done = await wf.post(f"{TASKS}/{task['id']}/complete", {"formData": {"approved": approved, "comment": "seen"}})
    assert done.status_code == 200, done.text
    return await finish(wf, instance["id"])


async def approval_approved(wf: WorkflowApi) -> tuple[str, str]:
    return await approval(wf, True)


async def approval_rejected(wf: WorkflowApi) -> tuple[str, str]:
    return await approval(wf, False)


async def signal_received(wf: WorkflowApi) -> tuple[str, str]:
    _, instance = await wf.run(shipped("signal-wait"), initialContext={"orderId": "O-1"})
    await wf.wait_status(instance["id"], "PAUSED")
    response = await wf.signal(instance["id"], "payment_received", {"amount": 10})
    assert response.status_code == 200, response.text
    return await finish(wf, instance["id"])


async def signal_timeout_takes_timer_transition(wf: WorkflowApi) -> tuple[str, str]:
    document = flow(
        "signal-timeout",
        [
            step("wait", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "never", "timeout": "1s"}),
            step("expired", "AUTOMATED", activities=[fn("note", "test.count", {"label": "expired"})]),
        ],
        [
            tr("start", "wait"),
            tr("wait", "end", "arrived", trigger="signal"),
            tr("wait", "expired", "timed-out", trigger="timer"),
            tr("expired", "end"),
        ],
    )
    _, instance = await wf.run(document)
    return await finish(wf, instance["id"])


async def signal_timeout_fails_then_cancelled(wf: WorkflowApi) -> tuple[str, str]:
    document = chain(
        "signal-timeout-fail", step("wait", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "never", "timeout": "1s"})
    )
    _, instance = await wf.run(document)
    _, status = await finish(wf, instance["id"])
    assert status == "FAILED"
    cancelled = await wf.post(f"/api/workflows/instances/{instance['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    return await finish(wf, instance["id"])


async def timer(wf: WorkflowApi) -> tuple[str, str]:
    _, instance = await wf.run(chain("timer", step("pause", "WAIT_FOR_TIMER", config={"duration": "1s"})))
    return await finish(wf, instance["id"])


async def user_task_for_a_user(wf: WorkflowApi) -> tuple[str, str]:
    form = {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]}
    document = chain(
        "user-task",
        step("review", "USER_TASK", userTaskConfig={"assignedTo": str(wf.account.user_id), "formSchema": form}),
    )
    _, instance = await wf.run(document)
    [task] = await wf.wait_task(instance["id"])
    done = await wf.post(f"{TASKS}/{task['id']}/complete", {"formData": {"note": "fine"}, "comments": "ok"})
    assert done.status_code == 200, done.text
    return await finish(wf, instance["id"])


async def user_task_sla_escalated(wf: WorkflowApi) -> tuple[str, str]:
    """SLA and escalation timers (guarded by `workflow.patched`), and the task commands."""
    rules = [
        {"trigger": "no_progress", "after": "PT1S", "action": "reassign", "escalateToRoles": ["admin"]},
        {"trigger": "sla_breach", "action": "escalate"},
        {"trigger": "sla_breach", "action": "notify", "notifyRoles": ["admin"]},
        {"trigger": "sla_breach", "after": "PT1H", "action": "escalate"},  # cancelled by completion
    ]
    user_task = {"assignedTo": ["admin"], "slaDuration": "PT2S", "escalationRules": rules}
    _, instance = await wf.run(chain("user-task-sla", step("review", "USER_TASK", userTaskConfig=user_task)))
    [task] = await wf.wait_task(instance["id"])
    await wf.wait_event(instance["id"], "USER_TASK_SLA_BREACHED")
    for command in ("claim", "release", "claim"):
        assert (await wf.post(f"{TASKS}/{task['id']}/{command}")).status_code == 200
    assert (await wf.post(f"{TASKS}/{task['id']}/comments", {"text": "on it"})).status_code == 201
    done = await wf.post(f"{TASKS}/{task['id']}/complete", {"formData": {"ok": True}})
    assert done.status_code == 200, done.text
    return await finish(wf, instance["id"])


async def sub_workflow(wf: WorkflowApi) -> tuple[str, str]:
    await wf.create(shipped("checkout"), unique=False)  # the child, by its shipped workflowId
    _, instance = await wf.run(
        shipped("sub-workflow"), initialContext={"customer": {"email": "c@covo.test"}, "order": {"id": "O-9"}}
    )
    return await finish(wf, instance["id"])


def parallel_with_test_functions() -> dict[str, Any]:
    """The shipped fork/join flow with its stock and payment activities replaced by `test.count`
    (the shipped ones need a stock function and a payments service)."""
    document = shipped("parallel")
    for item in document["definition"]["steps"]:
        for activity in item.get("activities", []):
            activity.update(
                activityType="EXECUTE_FUNCTION",
                config={"functionName": "test.count", "args": {"label": activity["activityId"]}},
            )
    document["definition"]["activities"] = [fn("release", "test.count", {"label": "release"})]
    for item in document["definition"]["steps"]:
        if item["stepId"] == "join":
            item["config"]["outputMapping"] = {"captured": "branches.fork-to-payment.capture.executed"}
    return document


async def parallel(wf: WorkflowApi) -> tuple[str, str]:
    _, instance = await wf.run(parallel_with_test_functions(), initialContext={"orderId": "O-2", "amount": 5})
    return await finish(wf, instance["id"])


async def parallel_branch_fails(wf: WorkflowApi) -> tuple[str, str]:
    """As shipped: `reserveStock` is not registered here, so a branch fails and its sibling is cancelled."""
    _, instance = await wf.run(shipped("parallel"), initialContext={"orderId": "O-3", "amount": 5})
    _, status = await finish(wf, instance["id"])
    assert status == "FAILED"
    cancelled = await wf.post(f"/api/workflows/instances/{instance['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    return await finish(wf, instance["id"])


async def compensation(wf: WorkflowApi) -> tuple[str, str]:
    document = chain(
        "saga",
        step(
            "charge",
            "AUTOMATED",
            activities=[fn("charge", "test.count", {"label": "charge"}, compensation={"activityId": "refund"})],
        ),
        step("boom", "AUTOMATED", activities=[fn("boom", "no.such.function")]),
        definition_extra={"activities": [fn("refund", "test.count", {"label": "refund"})]},
    )
    _, instance = await wf.run(document)
    return await finish(wf, instance["id"])


async def advance_async_activities_and_wait(wf: WorkflowApi) -> tuple[str, str]:
    document = flow(
        "advance",
        [
            step(
                "work",
                "AUTOMATED",
                activities=[
                    fn("left", "test.count", {"label": "left"}, **{"async": True}),
                    fn("right", "test.count", {"label": "right"}, **{"async": True}),
                ],
            ),
            step("hold", "AUTOMATED"),
        ],
        [
            tr("start", "work"),
            tr(
                "work",
                "hold",
                activities=[
                    {
                        "activityId": "breathe",
                        "activityName": "breathe",
                        "activityType": "WAIT",
                        "config": {"duration": "1s"},
                    }
                ],
            ),
            tr("hold", "end", "release", trigger="manual"),
        ],
    )
    _, instance = await wf.run(document)
    await wf.wait_for(instance["id"], lambda i: i["currentStepId"] == "hold")
    advanced = await wf.post(
        f"/api/workflows/instances/{instance['id']}/advance", {"contextUpdates": {"released": True}}
    )
    assert advanced.status_code == 200, advanced.text
    return await finish(wf, instance["id"])


SCENARIOS: dict[str, tuple[Scenario, str]] = {
    "checkout": (checkout, "COMPLETED"),
    "approval-approved": (approval_approved, "COMPLETED"),
    "approval-rejected": (approval_rejected, "COMPLETED"),
    "signal-received": (signal_received, "COMPLETED"),
    "signal-timeout-timer-transition": (signal_timeout_takes_timer_transition, "COMPLETED"),
    "signal-timeout-failed-cancelled": (signal_timeout_fails_then_cancelled, "CANCELLED"),
    "wait-for-timer": (timer, "COMPLETED"),
    "user-task": (user_task_for_a_user, "COMPLETED"),
    "user-task-sla": (user_task_sla_escalated, "COMPLETED"),
    "sub-workflow": (sub_workflow, "COMPLETED"),
    "parallel": (parallel, "COMPLETED"),
    "parallel-branch-failed-cancelled": (parallel_branch_fails, "CANCELLED"),
    "compensation": (compensation, "COMPENSATED"),
    "advance-async-wait": (advance_async_activities_and_wait, "COMPLETED"),
}


async def related_workflow_ids(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession], instance_id: str
) -> list[str]:
    """Workflows an instance started: event dispatches (found by the idempotency keys of its
    side effects) and child instances. (SEND_EMAIL delivers within its own activity.)"""
    key = {"key": f"wf:{instance_id}:%"}
    async with sessionmaker() as session:
        events = (
            await session.execute(text("SELECT id FROM domain_events WHERE idempotency_key LIKE :key"), key)
        ).all()
    children = [
        e["eventData"]["childInstanceId"]
        for e in await wf.events(instance_id)
        if e["eventType"] == "SUB_WORKFLOW_STARTED"
    ]
    return sorted(f"event-{e}" for (e,) in events) + [f"wf-{c}" for c in children]


async def closed_history(client: Client, workflow_id: str) -> WorkflowHistory:
    handle = client.get_workflow_handle(workflow_id)
    # The read model shows the end a moment before the workflow closes.
    with contextlib.suppress(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 60)
    return await handle.fetch_history()


async def test_live_histories_replay(
    wf: WorkflowApi, temporal_client: Client, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    live_runner = worker.config()["workflow_runner"]
    assert isinstance(live_runner, SandboxedWorkflowRunner)
    ours = production_runner()
    assert isinstance(ours, SandboxedWorkflowRunner)
    assert (live_runner.restrictions, live_runner.runner_class) == (ours.restrictions, ours.runner_class)
    assert set(worker.config()["workflows"]) == set(WORKFLOWS)

    histories: dict[str, WorkflowHistory] = {}
    for name, (scenario, expected) in SCENARIOS.items():
        instance_id, status = await scenario(wf)
        assert status == expected, f"{name}: {status}"
        histories[name] = await closed_history(temporal_client, f"wf-{instance_id}")
        for n, workflow_id in enumerate(await related_workflow_ids(wf, sessionmaker, instance_id)):
            kind = workflow_id.split("-", 1)[0]
            histories[f"{name}.{kind}-{n}"] = await closed_history(temporal_client, workflow_id)

    # Mail queued outside workflows (a password reset) is delivered by its own MailDelivery workflow.
    reset = await wf.client.post("/api/auth/reset", data={"email": wf.account.email})
    assert reset.status_code == 200
    async with sessionmaker() as session:
        outbox_id = await session.scalar(
            text("SELECT id FROM mail_outbox WHERE recipient = :r AND idempotency_key IS NULL"),
            {"r": wf.account.email},
        )
    histories["password-reset.mail-0"] = await closed_history(temporal_client, f"mail-{outbox_id}")

    kinds = {h.events[0].workflow_execution_started_event_attributes.workflow_type.name for h in histories.values()}
    assert {"WorkflowInstance", "MailDelivery", "DomainEventDispatch"} <= kinds, kinds
    failures = {}
    for name, history in histories.items():
        result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[name] = repr(result.replay_failure)
    assert not failures, failures

    if RECORD:
        HISTORIES.mkdir(exist_ok=True)
        for name, history in histories.items():
            (HISTORIES / f"{name}.json").write_text(history.to_json() + "\n")


@pytest.mark.parametrize(("name", "content"), [pytest.param(p.stem, p.read_text(), id=p.stem) for p in recorded()])
async def test_recorded_histories_replay(name: str, content: str) -> None:
    await replayer().replay_workflow(WorkflowHistory.from_json(name, json.loads(content)))


def test_histories_are_recorded() -> None:
    names = {p.stem for p in recorded()}
    assert set(SCENARIOS) <= names, f"missing recorded histories: {sorted(set(SCENARIOS) - names)}"
