"""Business rules inside workflows: transition pre/post-conditions and START pre-conditions use
the rules as they were when the instance started, and every evaluation is logged."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import Account
from tests.rules.api_helpers import RulesApi
from tests.workflows.conftest import WorkflowApi, flow, step, tr


def guarded(rule_id: str, **extra: Any) -> dict[str, Any]:
    """start -> review (rests) -> approve (pre-condition) -> end."""
    return flow(
        "guarded",
        [step("review", "AUTOMATED"), step("approved", "AUTOMATED")],
        [
            tr("start", "review"),
            tr("review", "approved", "approve", preConditions=[{"ruleId": rule_id}], **extra),
            tr("approved", "end"),
        ],
    )


async def guard(rules: RulesApi, minimum: int) -> dict[str, Any]:
    return await rules.create_rule(
        conditionExpression={">=": [{"var": "workflowContext.amount"}, minimum]},
        failureActions=[{"type": "SHOW_ERROR", "config": {"message": f"Amount must be at least {minimum}"}}],
    )


async def test_a_failing_required_pre_condition_blocks_the_transition_with_transition_rejected(
    client: httpx.AsyncClient, admin: Account, wf: WorkflowApi
) -> None:
    rules = RulesApi(client, admin)
    rule = await guard(rules, 100)
    _, instance = await wf.run(guarded(rule["ruleId"]), initialContext={"amount": 5})
    types = await wf.wait_event(instance["id"], "TRANSITION_REJECTED")
    assert "TRANSITION_EXECUTED" in types  # start -> review only
    rested = await wf.wait_status(instance["id"], "RUNNING")
    assert rested["currentStepId"] == "review"
    rejected = next(e for e in await wf.events(instance["id"]) if e["eventType"] == "TRANSITION_REJECTED")
    assert rejected["eventData"]["failedRulesDetail"][0]["error"] == "Amount must be at least 100"

    # Advancing by hand is refused with the rule's message, and nothing moves.
    response = await wf.post(f"/api/workflows/instances/{instance['id']}/advance", {})
    assert response.status_code == 400
    assert "Amount must be at least 100" in response.json()["reason"]

    # With enough in the context the same transition fires.
    response = await wf.post(f"/api/workflows/instances/{instance['id']}/advance", {"contextUpdates": {"amount": 150}})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["instance"]["transitionFired"] == "approve"
    assert (await wf.wait_status(instance["id"], "COMPLETED"))["context"]["amount"] == 150


async def test_workflow_rule_evaluations_are_written_to_the_rule_logs(
    client: httpx.AsyncClient, admin: Account, wf: WorkflowApi
) -> None:
    rules = RulesApi(client, admin)
    rule = await guard(rules, 10)
    _, instance = await wf.run(guarded(rule["ruleId"]), initialContext={"amount": 50})
    await wf.wait_status(instance["id"], "COMPLETED")
    logs = (await rules.logs(ruleId=rule["id"]))["items"]
    assert len(logs) == 1
    assert logs[0]["executionResult"] == "SUCCESS"
    assert logs[0]["entityType"].startswith("workflow:") and logs[0]["entityId"] == "approve"


async def test_a_running_instance_keeps_the_rule_it_started_with(
    client: httpx.AsyncClient, admin: Account, wf: WorkflowApi
) -> None:
    rules = RulesApi(client, admin)
    rule = await guard(rules, 10)
    document = flow(
        "pinned-rule",
        [step("wait", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "go"}), step("approved", "AUTOMATED")],
        [
            tr("start", "wait"),
            tr("wait", "approved", "approve", preConditions=[{"ruleId": rule["ruleId"]}]),
            tr("approved", "end"),
        ],
    )
    _, instance = await wf.run(document, initialContext={"amount": 50})
    await wf.wait_status(instance["id"], "PAUSED")
    # Tighten the rule while the instance waits: it must not see the change.
    response = await rules.request(
        "PUT",
        "/rules",
        json={"id": rule["id"], "conditionExpression": {">=": [{"var": "workflowContext.amount"}, 1000]}},
    )
    assert response.status_code == 200, response.text
    await wf.post(f"/api/workflows/instances/{instance['id']}/signal", {"signalName": "go"})
    assert (await wf.wait_status(instance["id"], "COMPLETED", "RUNNING"))["status"] == "COMPLETED"

    # A new instance uses the new rule and is blocked.
    _, second = await wf.run(document, initialContext={"amount": 50})
    await wf.wait_status(second["id"], "PAUSED")
    await wf.post(f"/api/workflows/instances/{second['id']}/signal", {"signalName": "go"})
    await wf.wait_event(second["id"], "TRANSITION_REJECTED")


async def test_validate_start_answers_can_start_false_with_the_rules_message(
    client: httpx.AsyncClient, admin: Account, wf: WorkflowApi
) -> None:
    rules = RulesApi(client, admin)
    rule = await rules.create_rule(
        conditionExpression={"==": [{"var": "workflowContext.country"}, "PL"]},
        failureActions=[{"type": "SHOW_ERROR", "config": {"message": "Only Polish orders"}}],
    )
    document = flow(
        "start-guard",
        [step("start", "START", preConditions=[{"ruleId": rule["ruleId"]}])],
        [tr("start", "end")],
    )
    definition = await wf.create(document)
    body = {"workflowId": definition["workflowId"]}
    refused = await wf.post("/api/workflows/instances/validate-start", {**body, "context": {"country": "DE"}})
    assert refused.status_code == 200
    assert refused.json()["canStart"] is False
    assert refused.json()["errors"] == [
        {"ruleId": rule["ruleId"], "message": "Only Polish orders", "code": "PRE_CONDITION_FAILED"}
    ]
    accepted = await wf.post("/api/workflows/instances/validate-start", {**body, "context": {"country": "PL"}})
    assert accepted.json() == {"canStart": True, "workflowId": definition["workflowId"]}

    started = await wf.post("/api/workflows/instances", {**body, "initialContext": {"country": "DE"}})
    assert started.status_code == 422
    assert started.json()["code"] == "START_PRE_CONDITIONS_FAILED"
    assert started.json()["details"]["errors"][0]["message"] == "Only Polish orders"
    assert (await wf.post("/api/workflows/instances", {**body, "initialContext": {"country": "PL"}})).status_code == 201


async def test_a_domain_event_runs_the_rules_subscribed_to_it(
    client: httpx.AsyncClient, admin: Account, wf: WorkflowApi
) -> None:
    rules = RulesApi(client, admin)
    entity = f"shop{wf.account.user_id.hex[:6]}.order"
    rule = await rules.create_rule(
        entityType=entity, eventType="created", conditionExpression={">": [{"var": "amount"}, 10]}
    )
    emit = {
        "activityId": "emit",
        "activityName": "emit",
        "activityType": "EMIT_EVENT",
        "config": {"eventName": f"{entity}.created", "payload": {"amount": 42, "id": "order-1"}},
    }
    _, instance = await wf.run(
        flow("emitter", [step("work", "AUTOMATED", activities=[emit])], [tr("start", "work"), tr("work", "end")])
    )
    await wf.wait_status(instance["id"], "COMPLETED")
    for _ in range(200):
        items = (await rules.logs(ruleId=rule["id"]))["items"]
        if items:
            break
        await asyncio.sleep(0.05)
    assert [i["executionResult"] for i in items] == ["SUCCESS"]
    assert items[0]["entityId"] == "order-1"
