"""The read model carries real times: when the instance was accepted, when each step really
started and ended, and when the row last changed (not the clock of one workflow task)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.workflows.conftest import WorkflowApi, chain, fn, step


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def seconds(later: str, earlier: str) -> float:
    return (moment(later) - moment(earlier)).total_seconds()


def wait_activity(duration: str) -> dict[str, Any]:
    return {"activityId": "pause", "activityName": "pause", "activityType": "WAIT", "config": {"duration": duration}}


async def test_a_one_second_wait_step_lasts_about_a_second(wf: WorkflowApi) -> None:
    pause = step("pause", "AUTOMATED", activities=[wait_activity("1s")])
    _, started = await wf.run(chain("timed", pause))
    done = await wf.wait_status(started["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done

    events = await wf.events(started["id"])
    entered = next(e for e in events if e["eventType"] == "STEP_ENTERED" and e["eventData"]["stepId"] == "pause")
    exited = next(e for e in events if e["eventType"] == "STEP_EXITED" and e["eventData"]["stepId"] == "pause")
    assert 0.9 <= seconds(exited["occurredAt"], entered["occurredAt"]) <= 5
    assert 900 <= exited["eventData"]["executionTimeMs"] <= 5000
    # The instance took at least as long as its step, from the moment it was accepted.
    assert 0.9 <= seconds(done["completedAt"], done["startedAt"]) <= 5
    assert moment(done["startedAt"]) <= moment(entered["occurredAt"])


async def test_updated_at_moves_when_the_instance_completes(wf: WorkflowApi) -> None:
    pause = step("pause", "AUTOMATED", activities=[wait_activity("1s")])
    _, started = await wf.run(chain("touched", pause))
    done = await wf.wait_status(started["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert done["createdAt"] == started["createdAt"]
    assert seconds(done["updatedAt"], done["createdAt"]) >= 0.9
    assert moment(done["updatedAt"]) >= moment(done["completedAt"])


async def test_an_instance_done_in_one_workflow_task_keeps_its_acceptance_time(wf: WorkflowApi) -> None:
    """No activity to wait for: every step runs in one workflow task, yet `startedAt` is when the
    start was accepted, and the row's `updatedAt` is when the projection really wrote it."""
    work = step("work", "AUTOMATED", activities=[fn("say", "echo", {"greeting": "hi"})])
    _, started = await wf.run(chain("quick", work))
    done = await wf.wait_status(started["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert abs(seconds(done["startedAt"], started["startedAt"])) < 1
    assert moment(done["startedAt"]) <= moment(done["completedAt"]) <= moment(done["updatedAt"])
    assert moment(done["updatedAt"]) > moment(done["createdAt"])
