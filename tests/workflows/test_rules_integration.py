"""Business rules inside workflows: transition pre/post-conditions and START pre-conditions use
the rules as they were when the instance started, and every evaluation is logged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from engine.rules import pinned
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
    before = await wf.position(instance["id"])
    response = await wf.post(f"/api/workflows/instances/{instance['id']}/advance", {})
    assert response.status_code == 400
    assert "Amount must be at least 100" in response.json()["reason"]
    assert await wf.position(instance["id"]) == before

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


# ---------------------------------------------------------------- one evaluator, every path


def _past() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).isoformat()


def _future() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


async def test_start_pre_conditions_honour_the_effective_window(
    client: httpx.AsyncClient, admin: Account, wf: WorkflowApi
) -> None:
    """The START path once ignored effectiveFrom/effectiveTo: a rule outside its window blocks."""
    rules = RulesApi(client, admin)
    expired = await rules.create_rule(
        conditionExpression=True, effectiveFrom="2000-01-01T00:00:00Z", effectiveTo=_past()
    )
    pending = await rules.create_rule(conditionExpression=True, effectiveFrom=_future())
    current = await rules.create_rule(conditionExpression=True, effectiveFrom="2000-01-01T00:00:00Z")
    for rule, can_start in ((expired, False), (pending, False), (current, True)):
        document = flow(
            "start-window",
            [step("start", "START", preConditions=[{"ruleId": rule["ruleId"]}])],
            [tr("start", "end")],
        )
        definition = await wf.create(document)
        body = {"workflowId": definition["workflowId"]}
        checked = (await wf.post("/api/workflows/instances/validate-start", {**body, "context": {}})).json()
        assert checked["canStart"] is can_start
        started = await wf.post("/api/workflows/instances", {**body, "initialContext": {}})
        if can_start:
            assert started.status_code == 201, started.text
            continue
        assert checked["errors"] == [
            {
                "ruleId": rule["ruleId"],
                "message": f"Business rule is not in effect: {rule['ruleId']}",
                "code": "RULE_NOT_IN_EFFECT",
            }
        ]
        assert started.status_code == 422
        assert started.json()["details"]["errors"] == checked["errors"]
        listed = await client.get(
            "/api/workflows/instances", params={"workflowId": definition["workflowId"]}, headers=admin.headers
        )
        assert listed.json()["pagination"]["total"] == 0  # refused: no instance written


async def test_start_pre_conditions_read_the_context_key(
    client: httpx.AsyncClient, admin: Account, wf: WorkflowApi
) -> None:
    """The START path once passed no `$context`: a rule on {{user.id}} now sees the caller."""
    rules = RulesApi(client, admin)
    rule = await rules.create_rule(conditionExpression={"==": [{"var": "$context.user.id"}, str(admin.user_id)]})
    document = flow(
        "start-context", [step("start", "START", preConditions=[{"ruleId": rule["ruleId"]}])], [tr("start", "end")]
    )
    definition = await wf.create(document)
    checked = await wf.post(
        "/api/workflows/instances/validate-start", {"workflowId": definition["workflowId"], "context": {}}
    )
    assert checked.json() == {"canStart": True, "workflowId": definition["workflowId"]}


async def test_transition_pre_conditions_honour_the_effective_window(
    client: httpx.AsyncClient, admin: Account, wf: WorkflowApi
) -> None:
    rules = RulesApi(client, admin)
    pending = await rules.create_rule(conditionExpression=True, effectiveFrom=_future())
    _, instance = await wf.run(guarded(pending["ruleId"]), initialContext={})
    await wf.wait_event(instance["id"], "TRANSITION_REJECTED")
    rejected = next(e for e in await wf.events(instance["id"]) if e["eventType"] == "TRANSITION_REJECTED")
    assert rejected["eventData"]["failedRulesDetail"][0]["error"] == (
        f"Business rule is not in effect: {pending['ruleId']}"
    )
    assert (await wf.wait_status(instance["id"], "RUNNING"))["currentStepId"] == "review"

    current = await rules.create_rule(conditionExpression=True, effectiveTo=_future())
    _, passing = await wf.run(guarded(current["ruleId"]), initialContext={})
    assert (await wf.wait_status(passing["id"], "COMPLETED"))["currentStepId"] == "end"


def test_the_pinned_evaluator_compiles_once_per_rule_version() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    rule = pinned.RuleSnapshot(rule_id="r", rule_name="R", condition={">": [{"var": "x"}, 1]}, version="u@1")
    before = pinned.CACHE.compiled
    assert pinned.evaluate("r", rule, {"x": 2}, moment).passed
    assert not pinned.evaluate("r", rule, {"x": 0}, moment).passed
    assert pinned.CACHE.compiled == before + 1
    edited = rule.model_copy(update={"condition": {"<": [{"var": "x"}, 1]}, "version": "u@2"})
    assert pinned.evaluate("r", edited, {"x": 0}, moment).passed
    assert pinned.CACHE.compiled == before + 2
    windowed = rule.model_copy(update={"effective_to": datetime(2025, 1, 1, tzinfo=UTC)})
    assert pinned.evaluate("r", windowed, {"x": 2}, moment).code == pinned.RULE_NOT_IN_EFFECT
