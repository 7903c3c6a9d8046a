"""The rule engine end to end: discovery and ordering, aggregation by rule type, every action with
its real side effect (and none in a dry run), log sanitisation, budgets, the compile cache, and the
public functions the workflow engine and the event bus use."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError

from engine.db.models import BusinessRuleRow, DomainEventRow, NotificationRow, RuleExecutionLogRow
from engine.db.session import unit_of_work
from engine.rules import service
from engine.rules.actions import Effects
from engine.rules.execution import CACHE, Execution, run_rules
from engine.rules.jsonlogic import apply, truthy
from engine.rules.schemas import RuleLogEntry, WebhookRequest, WebhookResult
from engine.settings import Settings
from tests.conftest import Account
from tests.http_receiver import Receiver, serving
from tests.rules.api_helpers import RulesApi, key
from workers.rules import RuleActivities
from workers.workflows.errors import ActivityConfigError


@pytest.fixture
def api(client: httpx.AsyncClient, admin: Account) -> RulesApi:
    return RulesApi(client, admin)


@pytest.fixture
async def receiver() -> Any:
    async with serving(Receiver()) as tiny:
        yield tiny


def action(kind: str, **config: Any) -> dict[str, Any]:
    return {"type": kind, "config": config}


# ---------------------------------------------------------------- discovery


async def test_discovery_order_event_type_window_and_enabled(api: RulesApi) -> None:
    entity = key("entity")
    low = await api.create_rule(entityType=entity, eventType="created", priority=1, ruleId=key("b"))
    high = await api.create_rule(entityType=entity, eventType="created", priority=500)
    tie_a = await api.create_rule(entityType=entity, eventType="created", priority=100, ruleId="a-" + key())
    tie_b = await api.create_rule(entityType=entity, eventType="created", priority=100, ruleId="b-" + key())
    any_event = await api.create_rule(entityType=entity, priority=50)
    await api.create_rule(entityType=entity, eventType="created", enabled=False)
    await api.create_rule(entityType=entity, eventType="created", effectiveFrom="2999-01-01T00:00:00Z")
    await api.create_rule(
        entityType=entity, eventType="created", effectiveFrom="2000-01-01T00:00:00Z", effectiveTo="2001-01-01T00:00:00Z"
    )
    deleted = await api.create_rule(entityType=entity, eventType="created")
    await api.request("DELETE", "/rules", params={"id": deleted["id"]})

    with_event = await api.execute(entityType=entity, eventType="created", data={}, dryRun=True)
    assert [r["ruleId"] for r in with_event["executedRules"]] == [
        high["ruleId"], tie_a["ruleId"], tie_b["ruleId"], low["ruleId"],
    ]  # fmt: skip
    # Without an eventType, rules of every event type (and none) run.
    without = await api.execute(entityType=entity, data={}, dryRun=True)
    assert [r["ruleId"] for r in without["executedRules"]] == [
        high["ruleId"], tie_a["ruleId"], tie_b["ruleId"], any_event["ruleId"], low["ruleId"],
    ]  # fmt: skip
    assert (await api.execute(entityType=key("nothing"), data={}))["executedRules"] == []
    assert (await api.execute(entityType=key("nothing"), data={}))["allowed"] is True


async def test_more_than_100_rules_run_nothing(api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    entity = key("entity")
    async with sessionmaker() as session, session.begin():
        session.add_all(
            BusinessRuleRow(
                id=uuid.uuid4(),
                tenant_id=api.account.tenant_id,
                organization_id=api.account.organization_id,
                rule_id=f"bulk-{i:03d}-{entity}"[:50],
                rule_name="bulk",
                rule_type="GUARD",
                entity_type=entity,
            )
            for i in range(101)
        )
    result = await api.execute(entityType=entity, data={})
    assert result["allowed"] is False and result["executedRules"] == []
    assert result["errors"] == ["More than 100 rules match; none were executed"]
    async with sessionmaker() as session:
        assert (
            await session.scalar(
                select(RuleExecutionLogRow.id).where(RuleExecutionLogRow.entity_type == entity).limit(1)
            )
        ) is None


# ---------------------------------------------------------------- aggregation by rule type


async def test_guard_validation_calculation_assignment_aggregate(api: RulesApi) -> None:
    entity = key("entity")
    await api.create_rule(entityType=entity, ruleType="GUARD", conditionExpression={">": [{"var": "qty"}, 0]})
    await api.create_rule(
        entityType=entity,
        ruleType="VALIDATION",
        conditionExpression={"field": "email", "operator": "IS_NOT_EMPTY", "value": None},
        failureActions=[
            action("SHOW_ERROR", message="Email is required for {{data.name}}"),
            action("SHOW_WARNING", message="Rule {{ruleId}} warns"),
            action("SHOW_INFO", message="just info"),
        ],
    )
    await api.create_rule(
        entityType=entity,
        ruleType="CALCULATION",
        priority=90,
        successActions=[
            action("SET_FIELD", field="pricing.total", valueExpression={"*": [{"var": "qty"}, {"var": "price"}]}),
            action("SET_FIELD", field="pricing.currency", value="EUR"),
        ],
    )
    await api.create_rule(
        entityType=entity,
        ruleType="ASSIGNMENT",
        priority=80,
        successActions=[
            action("SET_FIELD", field="owner", value="{{user.id}}"),
            action("SET_FIELD", field="qtyCopy", value="{{data.qty}}"),
            action("SET_FIELD", field="label", value="#{{data.qty}} for {{data.name}} {{data.nope}}"),
        ],
    )
    result = await api.execute(entityType=entity, data={"qty": 3, "price": 2.5, "name": "Ann", "email": "  "})
    assert result["allowed"] is True  # VALIDATION failures do not block; the GUARD passed
    assert result["output"] == {
        "pricing": {"total": 7.5, "currency": "EUR"},
        "owner": str(api.account.user_id),
        "qtyCopy": 3,  # a lone placeholder keeps its type
        "label": "#3 for Ann {{data.nope}}",  # unresolved placeholders stay verbatim
    }
    validation_key = next(r["ruleId"] for r in result["executedRules"] if r["ruleType"] == "VALIDATION")
    assert result["errors"] == ["Email is required for Ann", f"Rule {validation_key} warns"]
    assert [m["severity"] for m in result["messages"]] == ["error", "warning", "info"]
    assert all(m["ruleId"] == validation_key for m in result["messages"])

    blocked = await api.execute(entityType=entity, data={"qty": 0, "email": "a@b.c"})
    assert blocked["allowed"] is False  # the GUARD failed
    assert "errors" not in blocked


async def test_allow_and_block_transition_actions(api: RulesApi) -> None:
    entity = key("entity")
    soft_guard = await api.create_rule(
        entityType=entity,
        ruleType="GUARD",
        conditionExpression=False,
        failureActions=[action("ALLOW_TRANSITION", message="Allowed anyway for {{data.who}}")],
    )
    soft = await api.execute(entityType=entity, data={"who": "vip"})
    assert soft["allowed"] is True
    assert soft["executedRules"][0]["actionsExecuted"]["results"][0]["result"] == {
        "type": "ALLOW_TRANSITION", "allowed": True, "message": "Allowed anyway for vip",
    }  # fmt: skip
    await api.create_rule(entityType=entity, ruleType="ACTION", successActions=[action("BLOCK_TRANSITION")])
    hard = await api.execute(entityType=entity, data={"who": "vip"})
    assert hard["allowed"] is False
    block = next(r for r in hard["executedRules"] if r["ruleId"] != soft_guard["ruleId"])
    assert block["actionsExecuted"]["results"][0]["result"]["message"] == "Transition blocked"


# ---------------------------------------------------------------- actions with side effects


async def test_log_action_writes_a_log_line_except_in_dry_run(api: RulesApi, caplog: pytest.LogCaptureFixture) -> None:
    entity = key("entity")
    await api.create_rule(
        entityType=entity, successActions=[action("LOG", message="order {{data.id}} seen", level="warning")]
    )
    with caplog.at_level(logging.DEBUG, logger="covo.rules"):
        dry = await api.execute(entityType=entity, data={"id": 7}, dryRun=True)
        assert not [r for r in caplog.records if "order 7 seen" in r.getMessage()]
        await api.execute(entityType=entity, data={"id": 7})
    lines = [r for r in caplog.records if "order 7 seen" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    result = dry["executedRules"][0]["actionsExecuted"]["results"][0]["result"]
    assert result["type"] == "LOG" and result["level"] == "warning" and result["message"] == "order 7 seen"
    assert result["timestamp"].endswith("Z")


async def test_notify_writes_a_notification_per_recipient(
    api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    entity = key("entity")
    rule = await api.create_rule(
        entityType=entity,
        ruleType="ACTION",
        successActions=[
            action(
                "NOTIFY",
                recipients=["ops@covo.test", "{{data.owner}}"],
                subject="Order {{data.id}}",
                message="Order {{data.id}} needs review",
                template="review",
            )
        ],
    )
    dry = await api.execute(entityType=entity, entityId="o-1", data={"id": 42, "owner": "ann@covo.test"}, dryRun=True)
    assert "notificationIds" not in dry["executedRules"][0]["actionsExecuted"]["results"][0]["result"]
    live = await api.execute(entityType=entity, entityId="o-1", data={"id": 42, "owner": "ann@covo.test"})
    result = live["executedRules"][0]["actionsExecuted"]["results"][0]["result"]
    assert result["recipients"] == ["ops@covo.test", "ann@covo.test"] and len(result["notificationIds"]) == 2
    async with sessionmaker() as session:
        rows = (await session.scalars(select(NotificationRow).where(NotificationRow.source_id == rule["id"]))).all()
    assert sorted(r.recipient for r in rows) == ["ann@covo.test", "ops@covo.test"]  # none from the dry run
    assert {r.subject for r in rows} == {"Order 42"} and {r.message for r in rows} == {"Order 42 needs review"}
    assert {r.tenant_id for r in rows} == {api.account.tenant_id}
    assert rows[0].data == {"ruleId": rule["ruleId"], "entityType": entity, "entityId": "o-1"}


async def test_emit_event_stores_and_dispatches_a_domain_event(
    api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    entity = key("entity")
    name = f"{entity}.flagged.now"
    rule = await api.create_rule(
        entityType=entity,
        ruleType="ACTION",
        successActions=[
            action("EMIT_EVENT", eventName=name, payload={"orderId": "{{data.id}}", "note": "id={{data.id}}"})
        ],
    )
    dry = await api.execute(entityType=entity, data={"id": 9}, dryRun=True)
    assert "eventId" not in dry["executedRules"][0]["actionsExecuted"]["results"][0]["result"]
    live = await api.execute(entityType=entity, entityId="o-9", data={"id": 9})
    result = live["executedRules"][0]["actionsExecuted"]["results"][0]["result"]
    assert result["event"] == name
    async with sessionmaker() as session:
        events = (await session.scalars(select(DomainEventRow).where(DomainEventRow.name == name))).all()
    assert [str(e.id) for e in events] == [result["eventId"]]  # the dry run stored nothing
    event = events[0]
    assert event.tenant_id == api.account.tenant_id and event.organization_id == api.account.organization_id
    assert event.payload == {
        "orderId": 9,
        "note": "id=9",
        "_rule": {"ruleId": rule["ruleId"], "ruleName": "A rule", "entityType": entity, "entityId": "o-9", "depth": 1},
    }
    # Handed to the bus after commit: the dispatch workflow marks it.
    for _ in range(200):
        async with sessionmaker() as session:
            row = await session.get(DomainEventRow, event.id)
        if row is not None and row.dispatched_at is not None:
            break
        await asyncio.sleep(0.1)
    assert row is not None and row.dispatched_at is not None


async def test_call_webhook_goes_through_a_temporal_workflow(
    api: RulesApi, receiver: Receiver, temporal_client: Client
) -> None:
    entity = key("entity")
    await api.create_rule(
        entityType=entity,
        ruleType="ACTION",
        successActions=[
            action(
                "CALL_WEBHOOK",
                url=receiver.url + "/hooks/{{data.id}}",
                method="put",
                headers={"X-Order": "{{data.id}}", "Authorization": "Bearer s3cret"},
                body={"order": "{{data.id}}", "by": "{{user.id}}"},
            )
        ],
    )
    dry = await api.execute(entityType=entity, data={"id": 5}, dryRun=True)
    assert dry["executedRules"][0]["actionsExecuted"]["results"][0]["result"]["status"] == "skipped"
    live = await api.execute(entityType=entity, data={"id": 5})
    result = live["executedRules"][0]["actionsExecuted"]["results"][0]["result"]
    assert result["status"] == "pending" and result["method"] == "PUT" and result["url"] == receiver.url + "/hooks/5"
    assert "headers" not in result  # they may carry credentials
    outcome = await temporal_client.get_workflow_handle(result["workflowId"], result_type=WebhookResult).result()
    assert outcome.status == 200 and outcome.body == {"received": True}
    hits = await receiver.wait_for_hits(1)
    assert len(hits) == 1  # the dry run sent nothing
    hit = hits[0]
    assert (hit.method, hit.path) == ("PUT", "/hooks/5")
    assert json.loads(hit.body) == {"order": 5, "by": str(api.account.user_id)}
    assert hit.headers["x-order"] == "5" and hit.headers["authorization"] == "Bearer s3cret"
    assert hit.headers["idempotency-key"] == result["workflowId"]
    logs = await api.logs(entityType=entity)
    assert "s3cret" not in json.dumps(logs)


async def test_call_webhook_client_error_fails_without_retrying(
    api: RulesApi, receiver: Receiver, temporal_client: Client
) -> None:
    receiver.status = 422
    entity = key("entity")
    await api.create_rule(entityType=entity, successActions=[action("CALL_WEBHOOK", url=receiver.url + "/x")])
    result = (await api.execute(entityType=entity, data={}))["executedRules"][0]["actionsExecuted"]["results"][0]
    with pytest.raises(WorkflowFailureError):
        await temporal_client.get_workflow_handle(result["result"]["workflowId"]).result()
    assert len(receiver.hits) == 1


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x", "http://localhost/x", "http://10.0.0.1/", "file:///etc/passwd"]
)
async def test_webhook_activity_applies_the_ssrf_guard(settings: Settings, url: str) -> None:
    guarded = RuleActivities(settings.model_copy(update={"workflows_allow_private_urls": False}))
    request = WebhookRequest(url=url, idempotency_key="k", tenant_id=uuid.uuid4(), rule_id="r")
    with pytest.raises(ActivityConfigError):
        await guarded.call_webhook(request)
    production = RuleActivities(
        settings.model_copy(update={"workflows_allow_private_urls": True, "environment": "production"})
    )
    with pytest.raises(ActivityConfigError):
        await production.call_webhook(request)


# ---------------------------------------------------------------- logs, errors, budgets


async def test_logs_redact_sensitive_input(api: RulesApi) -> None:
    entity = key("entity")
    rule = await api.create_rule(
        entityType=entity, successActions=[action("SET_FIELD", field="apiToken", value="{{data.user.password}}")]
    )
    data = {
        "password": "p1",
        "user": {"name": "Ann", "password": "p2", "apiKey": "k", "author": "visible"},
        "payment": {"creditCardNumber": "4111", "card_number": "4111", "cvv": "123", "amount": 10},
        "items": [{"accessToken": "t", "sku": "A"}],
        "className": "visible",
        "SSN": "123-45",
        "deep": {"a": {"b": {"c": {"d": {"e": 1}}}}},
    }
    await api.execute(entityType=entity, data=data)
    entry = (await api.logs(ruleId=rule["id"]))["items"][0]
    logged = entry["inputContext"]["data"]
    assert logged["password"] == "[REDACTED]"
    assert logged["user"] == {"name": "Ann", "password": "[REDACTED]", "apiKey": "[REDACTED]", "author": "visible"}
    assert logged["payment"] == {
        "creditCardNumber": "[REDACTED]",
        "card_number": "[REDACTED]",
        "cvv": "[REDACTED]",
        "amount": 10,
    }
    assert logged["items"] == [{"accessToken": "[REDACTED]", "sku": "A"}]
    assert logged["className"] == "visible" and logged["SSN"] == "[REDACTED]"
    assert logged["deep"] == {"a": {"b": {"c": {"d": "[Max depth exceeded]"}}}}
    assert entry["inputContext"]["user"] == {"id": str(api.account.user_id), "role": "admin"}
    assert entry["outputContext"]["output"] == {"apiToken": "[REDACTED]"}
    assert "p1" not in json.dumps(entry) and "4111" not in json.dumps(entry)


async def test_broken_stored_condition_logs_error_and_emits_failure_event(
    api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    entity = key("entity")
    rule = await api.create_rule(entityType=entity, successActions=[action("LOG", message="never")])
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(BusinessRuleRow)
            .where(BusinessRuleRow.id == uuid.UUID(rule["id"]))
            .values(condition_logic={"no_such_op": [1]}, updated_at=datetime.now(UTC))
        )
    result = await api.execute(entityType=entity, data={})
    executed = result["executedRules"][0]
    assert executed["conditionResult"] is False and executed["actionsExecuted"] is None
    assert executed["error"].startswith("Condition evaluation failed:")
    assert result["allowed"] is False and result["errors"] == [f"Rule {rule['ruleId']}: {executed['error']}"]
    entry = (await api.logs(ruleId=rule["id"]))["items"][0]
    assert entry["executionResult"] == "ERROR" and entry["errorMessage"] == executed["error"]
    assert entry["outputContext"] is None
    async with sessionmaker() as session:
        failed = (
            await session.scalars(
                select(DomainEventRow).where(
                    DomainEventRow.name == "business_rules.rule.execution_failed",
                    DomainEventRow.tenant_id == api.account.tenant_id,
                )
            )
        ).all()
    assert [e.payload["ruleId"] for e in failed] == [rule["ruleId"]]
    assert failed[0].payload["errorMessage"] == executed["error"]
    # Execute-by-id reports the error too, without a failure event (as the reference).
    by_id = await api.execute_rule(rule["id"])
    assert by_id["success"] is False and by_id["error"] == executed["error"] and "logId" in by_id


async def test_time_budgets(api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    entity = key("entity")
    await api.create_rule(entityType=entity, ruleId="a-" + key(), successActions=[action("LOG", message="x")])
    await api.create_rule(entityType=entity, ruleId="b-" + key())
    async with sessionmaker() as session:
        rules = await service.discover(
            session, api.account.tenant_id, api.account.organization_id, entity, None, datetime.now(UTC)
        )
        execution = Execution(
            tenant_id=api.account.tenant_id, organization_id=api.account.organization_id,
            entity_type=entity, data={}, dry_run=True,
        )  # fmt: skip
        outcomes, body = await run_rules(session, rules, execution, Effects(), rule_budget_s=0.0)
        assert [o.error for o in outcomes] == ["Rule exceeded its time budget of 0 ms"] * 2
        assert all(o.actions is None for o in outcomes)
        outcomes, body = await run_rules(session, rules, execution, Effects(), total_budget_s=-1.0)
        assert all(o.error and o.error.startswith("Not run: total time budget") for o in outcomes)
        assert body["allowed"] is False


async def test_rules_compile_once_per_version(api: RulesApi) -> None:
    entity = key("entity")
    rule = await api.create_rule(entityType=entity, conditionExpression={"==": [{"var": "x"}, 1]})
    await api.execute(entityType=entity, data={"x": 1}, dryRun=True)
    compiled = CACHE.compiled
    for _ in range(3):
        assert (await api.execute(entityType=entity, data={"x": 1}, dryRun=True))["executedRules"][0]["conditionResult"]
    assert CACHE.compiled == compiled  # reused
    await api.request("PUT", "/rules", json={"id": rule["id"], "conditionExpression": {"==": [{"var": "x"}, 2]}})
    result = await api.execute(entityType=entity, data={"x": 1}, dryRun=True)
    assert result["executedRules"][0]["conditionResult"] is False  # the new version
    assert CACHE.compiled == compiled + 1


async def test_condition_tree_specials_resolve_from_the_execution_context(api: RulesApi) -> None:
    entity = key("entity")
    await api.create_rule(
        entityType=entity,
        conditionExpression={
            "operator": "AND",
            "rules": [
                {"field": "ownerId", "operator": "=", "value": "{{user.id}}"},
                {"field": "due", "operator": ">=", "value": "{{today}}"},
                {"field": "code", "operator": "MATCHES", "value": "^[A-Z]{3}-\\d+$"},
                {"field": "tags", "operator": "CONTAINS", "value": "vip"},
                {"field": "limit", "operator": ">", "valueField": "spent"},
            ],
        },
    )
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    data = {
        "ownerId": str(api.account.user_id),
        "due": tomorrow,
        "code": "ABC-12",
        "tags": ["vip"],
        "limit": 10,
        "spent": 3,
    }
    assert (await api.execute(entityType=entity, data=data))["allowed"] is True
    assert (await api.execute(entityType=entity, data={**data, "ownerId": "someone"}))["allowed"] is False
    assert (await api.execute(entityType=entity, data={**data, "spent": 30}))["allowed"] is False


# ---------------------------------------------------------------- public functions


async def test_snapshots_for(api: RulesApi, make_account: Any, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    tree = await api.create_rule(
        conditionExpression={"field": "workflowContext.amount", "operator": "<", "value": 100},
        failureActions=[action("LOG", message="no"), action("SHOW_ERROR", message="Too expensive")],
        effectiveTo="2099-01-01T00:00:00Z",
    )
    plain = await api.create_rule(enabled=False)
    gone = await api.create_rule()
    await api.request("DELETE", "/rules", params={"id": gone["id"]})
    foreign = await RulesApi(api.client, await make_account("admin")).create_rule()
    async with sessionmaker() as session:
        snapshots = await service.snapshots_for(
            session,
            api.account.tenant_id,
            {tree["ruleId"], plain["ruleId"], gone["ruleId"], foreign["ruleId"], "unknown"},
        )
    assert set(snapshots) == {tree["ruleId"], plain["ruleId"]}
    snap = snapshots[tree["ruleId"]]
    assert snap.rule_name == "A rule" and snap.enabled is True and snap.fail_message == "Too expensive"
    assert snap.effective_to == datetime(2099, 1, 1, tzinfo=UTC)
    assert truthy(apply(snap.condition, {"workflowContext": {"amount": 5}}))
    assert not truthy(apply(snap.condition, {"workflowContext": {"amount": 500}}))
    assert snapshots[plain["ruleId"]].enabled is False and snapshots[plain["ruleId"]].condition is True
    async with sessionmaker() as session:
        assert await service.snapshots_for(session, api.account.tenant_id, set()) == {}


def test_event_target() -> None:
    assert service.event_target("orders.order.created") == ("orders.order", "created")
    assert service.event_target("sales.orders.line.updated") == ("sales.orders.line", "updated")
    assert service.event_target("orders.created") is None
    assert service.event_target("orders..created") is None
    for skipped in ("business_rules.rule.execution_failed", "workflows.instance.completed", "cache.x.y", "search.a.b"):
        assert service.event_target(skipped) is None


async def test_run_for_event_runs_matching_rules(
    api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession], temporal_client: Client, settings: Settings
) -> None:
    entity = f"{key('shop')}.order"
    rule = await api.create_rule(
        entityType=entity,
        eventType="created",
        ruleType="ACTION",
        conditionExpression={">": [{"var": "total"}, 100]},
        successActions=[action("NOTIFY", recipients=["sales"], message="Big order {{data.id}}")],
    )
    await api.create_rule(entityType=entity, eventType="updated")
    common = {"tenant_id": api.account.tenant_id, "organization_id": api.account.organization_id}
    async with unit_of_work(sessionmaker) as session:  # run_for_event's caller owns the transaction
        ran = await service.run_for_event(
            session, temporal_client, settings.temporal_task_queue,
            event_name=f"{entity}.created", payload={"id": "o-77", "total": 250, "password": "x"}, **common,
        )  # fmt: skip
    assert ran == 1
    logs = await api.logs(ruleId=rule["id"])
    assert logs["total"] == 1
    entry = logs["items"][0]
    assert entry["executionResult"] == "SUCCESS" and entry["executedBy"] is None
    assert entry["entityType"] == entity and entry["entityId"] == "o-77"
    assert entry["inputContext"]["data"]["password"] == "[REDACTED]"
    assert entry["inputContext"]["eventType"] == "created"
    async with sessionmaker() as session:
        notes = (await session.scalars(select(NotificationRow).where(NotificationRow.source_id == rule["id"]))).all()
        assert [n.message for n in notes] == ["Big order o-77"]
        # With an idempotency key, a retried delivery runs nothing the second time.
        once = f"event:{uuid.uuid4()}:rules"
        for expected in (1, 0):
            async with unit_of_work(sessionmaker) as attempt:
                ran = await service.run_for_event(
                    attempt, temporal_client, settings.temporal_task_queue, event_name=f"{entity}.created",
                    payload={"id": "o-78", "total": 300}, idempotency_key=once, **common,
                )  # fmt: skip
            assert ran == expected
        assert (await api.logs(ruleId=rule["id"]))["total"] == 2
        # Another organization's event does not run this organization's rules.
        assert (
            await service.run_for_event(
                session,
                temporal_client,
                settings.temporal_task_queue,
                tenant_id=api.account.tenant_id,
                organization_id=uuid.uuid4(),
                event_name=f"{entity}.created",
                payload={"total": 500},
            )
        ) == 0
        # A rule-emitted event chain stops at the depth limit.
        looped = {"total": 500, "_rule": {"depth": 5}}
        assert (
            await service.run_for_event(
                session,
                temporal_client,
                settings.temporal_task_queue,
                event_name=f"{entity}.created",
                payload=looped,
                **common,
            )
        ) == 0
        assert (
            await service.run_for_event(
                session,
                temporal_client,
                settings.temporal_task_queue,
                event_name="business_rules.x.created",
                payload={},
                **common,
            )
        ) == 0


async def test_write_logs(api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    rule = await api.create_rule()
    entries = [
        RuleLogEntry(
            tenant_id=api.account.tenant_id,
            organization_id=api.account.organization_id,
            rule_id=rule["ruleId"],
            entity_type="workflow:wf:transition",
            entity_id="start->end",
            event_type="pre_transition",
            data={"workflowContext": {"token": "t", "amount": 3}},
            condition_result=False,
            executed_by="user-1",
            execution_time_ms=2,
        ),
        RuleLogEntry(tenant_id=api.account.tenant_id, rule_id="no-such-rule", entity_type="x"),
        RuleLogEntry(
            tenant_id=api.account.tenant_id,
            organization_id=api.account.organization_id,
            rule_id=rule["ruleId"],
            entity_type="workflow:wf:transition",
            error="Business rule is disabled",
        ),
    ]
    async with sessionmaker() as session, session.begin():
        ids = await service.write_logs(session, entries)
    assert ids[1] is None and isinstance(ids[0], int) and isinstance(ids[2], int)
    logs = (await api.logs(ruleId=rule["id"], sortField="id", sortDir="asc"))["items"]
    assert [entry["executionResult"] for entry in logs] == ["FAILURE", "ERROR"]
    assert logs[0]["inputContext"]["data"] == {"workflowContext": {"token": "[REDACTED]", "amount": 3}}
    assert logs[0]["entityId"] == "start->end" and logs[0]["executedBy"] == "user-1"
    assert logs[1]["errorMessage"] == "Business rule is disabled" and logs[1]["outputContext"] is None
    async with sessionmaker() as session:
        assert await service.write_logs(session, []) == []


async def test_each_executed_rule_points_at_its_own_log(api: RulesApi) -> None:
    entity = key("entity")
    rules = [
        await api.create_rule(entityType=entity, priority=100 - i, conditionExpression={"==": [{"var": "n"}, i]})
        for i in range(6)
    ]
    result = await api.execute(entityType=entity, data={"n": 3})
    assert [r["ruleId"] for r in result["executedRules"]] == [r["ruleId"] for r in rules]
    assert result["logIds"] == [r["logId"] for r in result["executedRules"]]
    for created, executed in zip(rules, result["executedRules"], strict=True):
        detail = (await api.request("GET", f"/logs/{executed['logId']}")).json()
        assert detail["rule"]["id"] == created["id"]
        assert detail["executionResult"] == ("SUCCESS" if executed["conditionResult"] else "FAILURE")
    assert sum(r["conditionResult"] for r in result["executedRules"]) == 1
