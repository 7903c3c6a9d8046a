"""Definitions started by domain events (`definition.triggers`, reference §2.15), end to end: one
workflow's EMIT_EVENT activity stores an event, its dispatch workflow starts the matching ones."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from engine.db.models import DomainEventRow, SideEffectRow, WorkflowInstanceRow
from engine.events import service as events
from engine.events.schemas import DispatchEvent, DispatchResult
from engine.events.workflows import DomainEventDispatchWorkflow
from engine.settings import Settings
from tests.conftest import Account
from tests.workflows.conftest import WorkflowApi
from workers.events import EventActivities

START = {"stepId": "start", "stepName": "Start", "stepType": "START"}
END = {"stepId": "end", "stepName": "End", "stepType": "END"}


def emitter(*event_names: str) -> dict[str, Any]:
    """Emits one event per name, each with `context.payload` as its payload."""
    activities = [
        {
            "activityId": f"emit-{i}",
            "activityName": f"Emit {i}",
            "activityType": "EMIT_EVENT",
            "config": {"eventName": name, "payload": "{{context.payload}}"},
        }
        for i, name in enumerate(event_names)
    ]
    return {
        "workflowId": "emitter",
        "workflowName": "Emitter",
        "definition": {
            "steps": [START, END],
            "transitions": [
                {"transitionId": "go", "fromStepId": "start", "toStepId": "end", "trigger": "auto",
                 "activities": activities},
            ],
        },
    }  # fmt: skip


def listener(*triggers: dict[str, Any], wait: bool = False, workflow_id: str = "listener") -> dict[str, Any]:
    """A definition started by events; with `wait` its instances stay PAUSED on a signal."""
    steps: list[dict[str, Any]] = [START, END]
    transitions: list[dict[str, Any]] = [{"transitionId": "go", "fromStepId": "start", "toStepId": "end"}]
    if wait:
        steps = [START, {"stepId": "hold", "stepName": "Hold", "stepType": "WAIT_FOR_SIGNAL",
                         "signalConfig": {"signalName": "release"}}, END]  # fmt: skip
        transitions = [
            {"transitionId": "to-hold", "fromStepId": "start", "toStepId": "hold", "trigger": "auto"},
            {"transitionId": "released", "fromStepId": "hold", "toStepId": "end", "trigger": "signal"},
        ]
    return {
        "workflowId": workflow_id,
        "workflowName": "Listener",
        "definition": {"steps": steps, "transitions": transitions, "triggers": list(triggers)},
    }


def trigger(pattern: str = "orders.*.created", trigger_id: str = "on-order", **config: Any) -> dict[str, Any]:
    return {"triggerId": trigger_id, "name": f"Trigger {trigger_id}", "eventPattern": pattern, "config": config}


async def emit(wf: WorkflowApi, emitter_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    started = await wf.start(emitter_id, initialContext={"payload": payload})
    done = await wf.wait_status(started["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    return done


async def events_of(sessionmaker: async_sessionmaker[AsyncSession], account: Account) -> list[DomainEventRow]:
    async with sessionmaker() as session:
        query = select(DomainEventRow).where(DomainEventRow.tenant_id == account.tenant_id)
        return list((await session.scalars(query.order_by(DomainEventRow.created_at))).all())


async def dispatched(temporal_client: Client, event_id: uuid.UUID) -> DispatchResult:
    """The dispatch workflow's result (waits for it)."""
    handle = temporal_client.get_workflow_handle_for(DomainEventDispatchWorkflow.run, f"event-{event_id}")
    return await asyncio.wait_for(handle.result(), timeout=30)


async def instances(wf: WorkflowApi, workflow_id: str) -> list[dict[str, Any]]:
    response = await wf.client.get(
        "/api/workflows/instances", params={"workflowId": workflow_id, "limit": 100}, headers=wf.account.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_an_emitted_event_starts_the_matching_definition_with_mapped_context(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession], temporal_client: Client
) -> None:
    target = await wf.create(
        listener(
            trigger(
                filterConditions=[
                    {"field": "total", "operator": "gte", "value": 100},
                    {"field": "customer.email", "operator": "endsWith", "value": "@example.com"},
                ],
                contextMapping=[
                    {"targetKey": "orderId", "sourceExpression": "id"},
                    {"targetKey": "city", "sourceExpression": "customer.city", "defaultValue": "unknown"},
                ],
                entityType="order",
            )
        )
    )
    source = await wf.create(emitter("orders.order.created"))
    payload = {"id": "o-1", "total": 150, "customer": {"email": "ann@example.com"}, "userId": str(uuid.uuid4())}
    await emit(wf, source["workflowId"], payload)

    [event] = await events_of(sessionmaker, wf.account)
    result = await dispatched(temporal_client, event.id)
    assert result.handled["matched"] == 1 and result.handled["started"] == 1, result

    [started] = await instances(wf, target["workflowId"])
    done = await wf.wait_status(started["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert done["version"] == target["version"]
    context = done["context"]
    assert context["orderId"] == "o-1"
    assert context["city"] == "unknown"  # the default: the payload has no customer.city
    assert context["total"] == 150  # the payload itself is part of the context
    assert context["__trigger"]["triggerId"] == "on-order"
    assert context["__trigger"]["eventName"] == "orders.order.created"
    assert context["__trigger"]["source"] == "definition"
    assert context["__trigger"]["eventPayload"]["_workflow"]["workflowId"] == source["workflowId"]
    metadata = done["metadata"]
    # A workflow-emitted event's instances act for the emitting instance's initiator (the admin),
    # never for a userId the definition's author put in the payload.
    assert metadata["initiatedBy"] == str(wf.account.user_id)
    assert metadata["entityId"] == "o-1"
    assert metadata["entityType"] == "order"
    assert metadata["labels"] == {
        "trigger_id": "on-order",
        "trigger_name": "Trigger on-order",
        "event_name": "orders.order.created",
        "trigger_source": "definition",
    }
    # The entity filter of the instances API sees trigger-started instances.
    response = await wf.client.get(
        "/api/workflows/instances", params={"entityType": "order", "entityId": "o-1"}, headers=wf.account.headers
    )
    assert [i["id"] for i in response.json()["data"]] == [started["id"]]


async def test_non_matching_events_start_nothing(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession], temporal_client: Client
) -> None:
    target = await wf.create(
        listener(trigger("orders.order.created", filterConditions=[{"field": "total", "operator": "gt", "value": 100}]))
    )
    disabled = await wf.create(listener({**trigger("orders.order.created"), "enabled": False}, workflow_id="off"))
    source = await wf.create(emitter("orders.order.created", "orders.order.updated", "workflows.order.created"))
    await emit(wf, source["workflowId"], {"total": 50})  # the filter fails for the first event

    rows = await events_of(sessionmaker, wf.account)
    assert sorted(r.name for r in rows) == ["orders.order.created", "orders.order.updated", "workflows.order.created"]
    for row in rows:
        result = await dispatched(temporal_client, row.id)
        assert result.handled.get("matched", 0) == 0, (row.name, result)
    assert await instances(wf, target["workflowId"]) == []
    assert await instances(wf, disabled["workflowId"]) == []
    async with sessionmaker() as session:
        undispatched = await session.scalar(
            select(func.count()).where(
                DomainEventRow.tenant_id == wf.account.tenant_id, DomainEventRow.dispatched_at.is_(None)
            )
        )
    assert undispatched == 0


async def test_workflow_events_are_ignored_and_a_workflow_does_not_trigger_itself(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession], temporal_client: Client
) -> None:
    # `*` matches everything, yet neither the `workflows.` event nor its own event starts it.
    catch_all = await wf.create(
        {**emitter("workflows.instance.completed", "audit.entry.created"), "definition": {
            **emitter("workflows.instance.completed", "audit.entry.created")["definition"],
            "triggers": [trigger("*", "all")],
        }}
    )  # fmt: skip
    await emit(wf, catch_all["workflowId"], {"n": 1})
    for row in await events_of(sessionmaker, wf.account):
        result = await dispatched(temporal_client, row.id)
        assert result.handled.get("started", 0) == 0, (row.name, result)
    assert len(await instances(wf, catch_all["workflowId"])) == 1  # only the one started by hand


async def test_the_highest_enabled_version_triggers(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession], temporal_client: Client
) -> None:
    v1 = await wf.create(listener(trigger("orders.order.created")))
    v2 = await wf.create({**listener(trigger("orders.order.created")), "workflowId": v1["workflowId"], "version": 2},
                         unique=False)  # fmt: skip
    source = await wf.create(emitter("orders.order.created"))
    await emit(wf, source["workflowId"], {"id": "o-9"})
    [event] = await events_of(sessionmaker, wf.account)
    assert (await dispatched(temporal_client, event.id)).handled["started"] == 1
    [started] = await instances(wf, v1["workflowId"])
    assert started["version"] == 2 and started["definitionId"] == v2["id"]


async def test_max_concurrent_instances_is_respected(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession], temporal_client: Client
) -> None:
    target = await wf.create(listener(trigger(maxConcurrentInstances=2), wait=True))
    source = await wf.create(emitter("orders.a.created", "orders.b.created", "orders.c.created"))
    await emit(wf, source["workflowId"], {"total": 1})
    results = [await dispatched(temporal_client, row.id) for row in await events_of(sessionmaker, wf.account)]
    assert sum(r.handled["started"] for r in results) == 2, results
    assert sum(r.handled["limited"] for r in results) == 1, results
    running = await instances(wf, target["workflowId"])
    assert len(running) == 2
    for instance in running:
        await wf.wait_status(instance["id"], "PAUSED")

    # Once one of them ends, the next event starts an instance again.
    response = await wf.post(f"/api/workflows/instances/{running[0]['id']}/cancel")
    assert response.status_code == 200, response.text
    await wf.wait_status(running[0]["id"], "CANCELLED")
    await emit(wf, source["workflowId"], {"total": 2})
    later = (await events_of(sessionmaker, wf.account))[3:]
    results = [await dispatched(temporal_client, row.id) for row in later]
    assert sum(r.handled["started"] for r in results) == 1, results
    assert len(await instances(wf, target["workflowId"])) == 3


async def test_a_redispatched_event_starts_only_one_instance(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession], temporal_client: Client, settings: Settings
) -> None:
    target = await wf.create(listener(trigger("orders.order.created")))
    source = await wf.create(emitter("orders.order.created"))
    await emit(wf, source["workflowId"], {"id": "o-2"})
    [event] = await events_of(sessionmaker, wf.account)
    assert (await dispatched(temporal_client, event.id)).handled["started"] == 1

    # Handing the event in again is a no-op (the dispatch workflow id is the event id) ...
    await events.dispatch(temporal_client, event.id, settings.temporal_task_queue)
    # ... and running the dispatch activity again (as a retry would) finds the pair handled.
    again = await EventActivities(sessionmaker, settings, temporal_client).dispatch(DispatchEvent(event_id=event.id))
    assert again.handled["matched"] == 1
    assert again.handled["duplicate"] == 1 and again.handled["started"] == 0
    assert len(await instances(wf, target["workflowId"])) == 1
    async with sessionmaker() as session:
        ledger = await session.scalar(
            select(SideEffectRow).where(SideEffectRow.idempotency_key.like(f"event:{event.id}:trigger:%"))
        )
        assert ledger is not None and ledger.result is not None
        assert ledger.result["outcome"] == "started"
        count = await session.scalar(
            select(func.count()).where(
                WorkflowInstanceRow.tenant_id == wf.account.tenant_id,
                WorkflowInstanceRow.workflow_id == target["workflowId"],
            )
        )
    assert count == 1


async def test_events_emitted_by_api_code_start_instances_for_their_user(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession], temporal_client: Client, settings: Settings
) -> None:
    target = await wf.create(listener(trigger("customers.customer.created")))
    async with sessionmaker() as session, session.begin():
        event_id = await events.emit(
            session, temporal_client, tenant_id=wf.account.tenant_id, organization_id=wf.account.organization_id,
            name="customers.customer.created", payload={"id": "c-1", "userId": str(wf.account.user_id)},
            task_queue=settings.temporal_task_queue,
        )  # fmt: skip
        await asyncio.sleep(0.3)  # the dispatcher waits for this commit
    assert (await dispatched(temporal_client, event_id)).handled["started"] == 1
    [started] = await instances(wf, target["workflowId"])
    assert started["metadata"]["initiatedBy"] == str(wf.account.user_id)
    assert started["organizationId"] == str(wf.account.organization_id)
