"""Transitions and activities: priority and inline conditions, manual transitions and advance,
business-rule pre-conditions, activity failure handling, async activities, timeouts and
templating."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.workflows.conftest import WorkflowApi, chain, flow, fn, step, tr


def entered(events: list[dict[str, Any]]) -> list[str]:
    return [e["eventData"]["stepId"] for e in events if e["eventType"] == "STEP_ENTERED"]


def branching(workflow_id: str) -> dict[str, Any]:
    """start -> big (amount > 100, priority 5) | vip (priority 10, tier == gold) | small (default)."""
    return flow(
        workflow_id,
        [step("big", "AUTOMATED"), step("vip", "AUTOMATED"), step("small", "AUTOMATED")],
        [
            tr("start", "small"),
            tr("start", "big", priority=5, condition={">": [{"var": "amount"}, 100]}),
            tr("start", "vip", priority=10, condition={"==": [{"var": "tier"}, "gold"]}),
            tr("big", "end"),
            tr("vip", "end"),
            tr("small", "end"),
        ],
    )


async def test_priority_and_inline_conditions_choose_the_path(wf: WorkflowApi) -> None:
    created = await wf.create(branching("routing"))
    cases = [
        ({"amount": 500, "tier": "gold"}, "vip"),
        ({"amount": 500, "tier": "silver"}, "big"),
        ({"amount": 5}, "small"),
    ]
    for context, expected in cases:
        instance = await wf.start(created["workflowId"], initialContext=context)
        done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
        assert done["status"] == "COMPLETED", done
        assert entered(await wf.events(instance["id"])) == [expected, "end"], context


def manual_flow(workflow_id: str) -> dict[str, Any]:
    return flow(
        workflow_id,
        [step("mid", "AUTOMATED")],
        [tr("start", "mid", "start-to-mid", trigger="manual"), tr("mid", "end", "mid-to-end", trigger="manual")],
    )


async def test_manual_transitions_fire_only_through_advance(wf: WorkflowApi) -> None:
    _, instance = await wf.run(manual_flow("manual"), initialContext={"a": 1})
    await wf.wait_event(instance["id"], "WORKFLOW_STARTED")
    await asyncio.sleep(0.5)
    resting = await wf.instance(instance["id"])
    assert resting["status"] == "RUNNING" and resting["currentStepId"] == "start"

    path = f"/api/workflows/instances/{instance['id']}/advance"
    nowhere = await wf.post(path, {"toStepId": "nowhere"})
    assert nowhere.status_code == 400
    assert nowhere.json()["error"] == "No valid transition to step 'nowhere'"
    assert await wf.position(instance["id"]) == ("RUNNING", "start", None, {"a": 1})  # refused: not moved

    moved = await wf.post(path, {"toStepId": "mid", "contextUpdates": {"b": 2}})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["message"] == "Workflow advanced successfully"
    assert body["data"]["instance"] == {
        "id": instance["id"],
        "status": "RUNNING",
        "currentStepId": "mid",
        "previousStepId": "start",
        "transitionFired": "start-to-mid",
        "context": {"a": 1, "b": 2},
    }
    await wf.wait_for(instance["id"], lambda i: i["currentStepId"] == "mid")
    await asyncio.sleep(0.3)
    assert (await wf.instance(instance["id"]))["status"] == "RUNNING"  # mid -> end is manual too

    finished = await wf.post(path, {})
    assert finished.status_code == 200, finished.text
    assert finished.json()["data"]["instance"]["currentStepId"] == "end"
    assert finished.json()["data"]["instance"]["status"] == "COMPLETED"
    done = await wf.wait_status(instance["id"], "COMPLETED")
    assert done["context"] == {"a": 1, "b": 2}

    before = await wf.position(instance["id"])
    again = await wf.post(path, {})
    assert again.status_code == 400
    assert again.json()["error"] == "Workflow already completed"
    assert await wf.position(instance["id"]) == before


async def test_advance_leaves_a_waiting_step(wf: WorkflowApi) -> None:
    document = flow(
        "advance-wait",
        [step("wait", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "go"}), step("skip", "AUTOMATED")],
        [tr("start", "wait"), tr("wait", "end"), tr("wait", "skip", trigger="manual"), tr("skip", "end")],
    )
    _, instance = await wf.run(document)
    await wf.wait_status(instance["id"], "PAUSED")
    moved = await wf.post(f"/api/workflows/instances/{instance['id']}/advance", {"toStepId": "skip"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["instance"]["transitionFired"] == "wait-to-skip"
    await wf.wait_status(instance["id"], "COMPLETED")
    assert entered(await wf.events(instance["id"])) == ["wait", "skip", "end"]


async def test_pre_condition_on_an_unknown_rule_blocks_the_transition(wf: WorkflowApi) -> None:
    document = chain("guarded")
    document["definition"]["transitions"][0]["preConditions"] = [{"ruleId": "no-such-rule"}]
    _, instance = await wf.run(document)
    events_types = await wf.wait_event(instance["id"], "TRANSITION_REJECTED")
    rejected = next(e for e in await wf.events(instance["id"]) if e["eventType"] == "TRANSITION_REJECTED")
    assert rejected["eventData"]["reason"] == "Pre-conditions failed"
    assert rejected["eventData"]["failedRules"] == "no-such-rule"
    assert "Business rule not found: no-such-rule" in rejected["eventData"]["failedRulesDetail"][0]["error"]
    assert "WORKFLOW_COMPLETED" not in events_types
    current = await wf.instance(instance["id"])
    assert current["status"] == "RUNNING" and current["currentStepId"] == "start"

    before = await wf.position(instance["id"])
    forced = await wf.post(f"/api/workflows/instances/{instance['id']}/advance", {})
    assert forced.status_code == 400
    assert forced.json()["error"] == "Transition failed"
    assert "no-such-rule" in forced.json()["reason"]
    assert await wf.position(instance["id"]) == before


async def test_activity_failure_fails_the_transition_unless_told_to_continue(wf: WorkflowApi) -> None:
    def document(workflow_id: str, keep_going: bool) -> dict[str, Any]:
        return flow(
            workflow_id,
            [],
            [
                tr(
                    "start",
                    "end",
                    activities=[fn("boom", "fail", {"message": "card declined"})],
                    continueOnActivityFailure=keep_going,
                )
            ],
        )

    _, strict = await wf.run(document("strict", False))
    failed = await wf.wait_status(strict["id"], "FAILED", "COMPLETED")
    assert failed["status"] == "FAILED", failed
    assert failed["errorMessage"].startswith("Activities failed:") and "card declined" in failed["errorMessage"]
    assert "ACTIVITY_FAILED" in await wf.event_types(strict["id"])

    _, lenient = await wf.run(document("lenient", True))
    done = await wf.wait_status(lenient["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    failures = [e for e in await wf.events(lenient["id"]) if e["eventType"] == "ACTIVITY_FAILED"]
    assert len(failures) == 1 and failures[0]["eventData"]["continueOnFailure"] is True


async def test_async_activities_show_waiting_then_resume_with_their_results(wf: WorkflowApi) -> None:
    activities = [
        fn("sync-one", "echo", {"n": 1}),
        {**fn("bg", "test.sleep", {"seconds": 1}), "async": True},
        {**fn("bg-echo", "echo", {"n": "{{context.n}}"}), "async": True},
    ]
    document = flow("async", [], [tr("start", "end", activities=activities)])
    _, instance = await wf.run(document, initialContext={"n": 3})
    waiting = await wf.wait_status(instance["id"], "WAITING_FOR_ACTIVITIES", "COMPLETED", "FAILED")
    assert waiting["status"] == "WAITING_FOR_ACTIVITIES", waiting
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    context = done["context"]
    assert context["sync-one"]["result"] == {"n": 1}
    assert context["bg_result"]["result"] == {"slept": 1}
    assert context["bg-echo_result"]["result"] == {"n": 3}
    types = await wf.event_types(instance["id"])
    assert types.count("ACTIVITY_QUEUED") == 2 and types.count("ACTIVITY_COMPLETED") == 2


async def test_activity_timeout_is_honoured(wf: WorkflowApi) -> None:
    slow = {**fn("slow", "test.sleep", {"seconds": 5}), "timeout": "1s", "retryPolicy": {"maxAttempts": 1}}
    _, instance = await wf.run(chain("timeout", step("work", "AUTOMATED", activities=[slow])))
    failed = await wf.wait_status(instance["id"], "FAILED", "COMPLETED", timeout=4)
    assert failed["status"] == "FAILED", failed
    assert "slow" in failed["errorMessage"] and "timeout" in failed["errorMessage"].lower()


async def test_templates_reach_activity_config(wf: WorkflowApi) -> None:
    args = {
        "whole": "{{context.order}}",
        "text": "Order #{{context.order.id}} for {{customer.name}}",
        "workflow": "{{workflow.workflowId}}@{{workflow.version}}",
        "instance": "{{workflow.instanceId}}",
        "missing": "{{context.nope}}",
        "now": "{{now}}",
    }
    document = flow("templating", [], [tr("start", "end", activities=[fn("render", "echo", args)])])
    workflow_id, instance = await wf.run(document, initialContext={"order": {"id": 9}, "customer": {"name": "Ada"}})
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    rendered = done["context"]["render"]["result"]
    assert rendered["whole"] == {"id": 9}
    assert rendered["text"] == "Order #9 for Ada"
    assert rendered["workflow"] == f"{workflow_id}@1"
    assert rendered["instance"] == instance["id"]
    assert rendered["missing"] == "{{context.nope}}"
    assert rendered["now"].endswith("Z")
