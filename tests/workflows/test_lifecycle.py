"""Instance lifecycle through the API: compensation, cancel, retry, exactly-once side effects,
the events API, tenant isolation and permissions."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import MakeAccount
from tests.helpers import nothing_written
from tests.workflows.conftest import SLEEP_OUTCOMES, WorkflowApi, chain, flow, fn, side_effects, step, tr

INSTANCES = "/api/workflows/instances"


def count(label: str, **extra: Any) -> dict[str, Any]:
    return fn(label, "test.count", {"label": label}, **extra)


# ---------------------------------------------------------------- compensation


async def test_failure_after_a_compensable_activity_runs_its_compensation(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    document = flow(
        "saga",
        [step("reserved", "AUTOMATED")],
        [
            tr("start", "reserved", activities=[count("reserve", compensation={"activityId": "release"})]),
            tr("reserved", "end", activities=[fn("charge", "fail", {"message": "card declined"})]),
        ],
        definition_extra={"activities": [count("release")]},
    )
    _, instance = await wf.run(document)
    done = await wf.wait_status(instance["id"], "COMPENSATED", "FAILED", "COMPLETED")
    assert done["status"] == "COMPENSATED", done
    assert "card declined" in done["errorMessage"]
    assert await side_effects(sessionmaker, instance["id"]) == ["reserve", "release"]
    types = await wf.event_types(instance["id"])
    assert types.index("COMPENSATION_STARTED") < types.index("COMPENSATION_ACTIVITY_COMPLETED")
    assert types[-1] == "COMPENSATION_COMPLETED"


async def test_compensation_that_fails_leaves_the_instance_failed_with_partial_compensation(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    document = flow(
        "saga-partial",
        [step("work", "AUTOMATED")],
        [
            tr(
                "start",
                "work",
                activities=[
                    count("reserve", compensation={"activityId": "release"}),
                    count("charge", compensation={"activityId": "refund"}),
                ],
            ),
            tr("work", "end", activities=[fn("ship", "fail")]),
        ],
        definition_extra={"activities": [count("release"), fn("refund", "fail", {"message": "refund refused"})]},
    )
    _, instance = await wf.run(document)
    done = await wf.wait_status(instance["id"], "FAILED", "COMPENSATED", "COMPLETED")
    assert done["status"] == "FAILED", done
    assert await side_effects(sessionmaker, instance["id"]) == ["reserve", "charge", "release"]
    events = await wf.events(instance["id"])
    [partial] = [e for e in events if e["eventType"] == "COMPENSATION_PARTIAL"]
    assert partial["eventData"]["compensatedActivities"] == 1 and partial["eventData"]["failedCompensations"] == 1
    assert "COMPENSATION_ACTIVITY_FAILED" in [e["eventType"] for e in events]


# ---------------------------------------------------------------- cancel


async def test_cancel_a_paused_instance_cancels_its_open_task(wf: WorkflowApi) -> None:
    _, instance = await wf.run(
        chain("cancel-task", step("review", "USER_TASK", userTaskConfig={"assignedTo": ["admin"]}))
    )
    await wf.wait_status(instance["id"], "PAUSED")
    [task] = await wf.wait_task(instance["id"])
    response = await wf.post(f"{INSTANCES}/{instance['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Workflow cancelled successfully"
    assert response.json()["data"]["status"] == "CANCELLED" and response.json()["data"]["cancelledAt"]
    [cancelled] = await wf.tasks(workflowInstanceId=instance["id"])
    assert cancelled["id"] == task["id"] and cancelled["status"] == "CANCELLED"
    assert (await wf.event_types(instance["id"]))[-1] == "WORKFLOW_CANCELLED"
    assert (await wf.post(f"/api/workflows/tasks/{task['id']}/complete", {"formData": {}})).status_code == 409
    again = await wf.post(f"{INSTANCES}/{instance['id']}/cancel")
    assert again.status_code == 400


async def test_cancel_a_running_instance(wf: WorkflowApi) -> None:
    document = flow("cancel-rest", [], [tr("start", "end", trigger="manual")])
    _, instance = await wf.run(document)
    await wf.wait_event(instance["id"], "WORKFLOW_STARTED")
    assert (await wf.instance(instance["id"]))["status"] == "RUNNING"
    response = await wf.post(f"{INSTANCES}/{instance['id']}/cancel")
    assert response.status_code == 200, response.text
    assert (await wf.instance(instance["id"]))["status"] == "CANCELLED"
    assert "WORKFLOW_CANCELLED" in await wf.event_types(instance["id"])


async def test_cancel_an_instance_waiting_for_activities(wf: WorkflowApi) -> None:
    """The cancelled instance never takes the async activity's result: checked once the activity
    is over (it finished, or Temporal cancelled it), not while it is still sleeping."""
    slow = {**fn("slow", "test.sleep_outcome", {"seconds": 2}), "async": True}
    _, instance = await wf.run(flow("cancel-async", [], [tr("start", "end", activities=[slow])]))
    await wf.wait_status(instance["id"], "WAITING_FOR_ACTIVITIES")
    assert instance["id"] not in SLEEP_OUTCOMES  # cancelled while the activity runs
    response = await wf.post(f"{INSTANCES}/{instance['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "CANCELLED"
    for _ in range(400):
        if instance["id"] in SLEEP_OUTCOMES:
            break
        await asyncio.sleep(0.05)
    assert SLEEP_OUTCOMES.get(instance["id"]) in ("finished", "cancelled"), "the activity never ended"
    await asyncio.sleep(0.5)  # let a (wrongly) delivered result reach the read model
    current = await wf.instance(instance["id"])
    assert current["status"] == "CANCELLED" and current["currentStepId"] == "start"
    assert "slow_result" not in current["context"]
    types = await wf.event_types(instance["id"])
    assert "ACTIVITY_COMPLETED" not in types and "WORKFLOW_COMPLETED" not in types


async def test_cancel_a_completed_instance_is_400(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, instance = await wf.run(chain("cancel-done"))
    await wf.wait_status(instance["id"], "COMPLETED")
    async with nothing_written(sessionmaker, wf.account.tenant_id):
        response = await wf.post(f"{INSTANCES}/{instance['id']}/cancel")
        assert response.status_code == 400
        assert "COMPLETED" in response.json()["error"]


# ---------------------------------------------------------------- retry


async def test_retry_resumes_a_failed_instance_from_the_failed_step(wf: WorkflowApi) -> None:
    _, instance = await wf.run(chain("retry", step("work", "AUTOMATED", activities=[fn("flaky", "test.flaky")])))
    failed = await wf.wait_status(instance["id"], "FAILED", "COMPLETED")
    assert failed["status"] == "FAILED" and failed["retryCount"] == 0
    assert "flaky" in failed["errorMessage"]

    response = await wf.post(f"{INSTANCES}/{instance['id']}/retry")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Workflow retry initiated successfully"
    assert body["data"]["instance"]["retryCount"] == 1
    assert body["data"]["instance"]["status"] != "FAILED"
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert done["retryCount"] == 1 and done["errorMessage"] is None
    events = await wf.events(instance["id"])
    work = [e["eventType"] for e in events if e["eventData"].get("stepId") == "work"]
    assert work == ["STEP_ENTERED", "STEP_FAILED", "STEP_ENTERED", "STEP_EXITED"]

    again = await wf.post(f"{INSTANCES}/{instance['id']}/retry")
    assert again.status_code == 400
    assert again.json()["error"] == "Cannot retry workflow in COMPLETED status. Only FAILED workflows can be retried."


async def test_retry_of_a_step_that_fails_again_counts_the_attempt(wf: WorkflowApi) -> None:
    _, instance = await wf.run(chain("retry-again", step("work", "AUTOMATED", activities=[fn("boom", "fail")])))
    await wf.wait_status(instance["id"], "FAILED")
    assert (await wf.post(f"{INSTANCES}/{instance['id']}/retry")).status_code == 200
    failed = await wf.wait_for(instance["id"], lambda i: i["status"] == "FAILED" and i["retryCount"] == 1)
    assert failed["errorMessage"]
    types = await wf.event_types(instance["id"])
    assert types.count("STEP_FAILED") == 2 and types.count("WORKFLOW_FAILED") == 2


async def test_retry_of_a_waiting_instance_is_400(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, instance = await wf.run(chain("retry-paused", step("wait", "WAIT_FOR_SIGNAL")))
    await wf.wait_status(instance["id"], "PAUSED")
    async with nothing_written(sessionmaker, wf.account.tenant_id):
        response = await wf.post(f"{INSTANCES}/{instance['id']}/retry")
        assert response.status_code == 400
        assert (
            response.json()["error"] == "Cannot retry workflow in PAUSED status. Only FAILED workflows can be retried."
        )


# ---------------------------------------------------------------- side effects


async def test_each_side_effect_happens_exactly_once(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    document = flow(
        "once",
        [step("a", "AUTOMATED", activities=[count("step-a")]), step("b", "AUTOMATED", activities=[count("step-b")])],
        [
            tr("start", "a", activities=[count("into-a")]),
            tr("a", "b", activities=[count("into-b"), {**count("bg"), "async": True}]),
            tr("b", "end"),
        ],
    )
    workflow_id, first = await wf.run(document)
    others = [await wf.start(workflow_id) for _ in range(4)]
    for instance in (first, *others):
        done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
        assert done["status"] == "COMPLETED", done
        assert sorted(await side_effects(sessionmaker, instance["id"])) == sorted(
            ["into-a", "step-a", "into-b", "bg", "step-b"]
        )


# ---------------------------------------------------------------- events


async def test_events_list_pages_and_filters(wf: WorkflowApi) -> None:
    _, instance = await wf.run(chain("events", step("a", "AUTOMATED"), step("b", "AUTOMATED")))
    await wf.wait_status(instance["id"], "COMPLETED")
    total = len(await wf.events(instance["id"]))

    page = (await wf.get("/api/workflows/events", workflowInstanceId=instance["id"], pageSize=3, page=2)).json()
    assert page["total"] == total and page["page"] == 2 and page["pageSize"] == 3
    assert page["totalPages"] == -(-total // 3)
    assert len(page["items"]) == 3
    item = page["items"][0]
    assert item["workflowInstance"]["id"] == instance["id"] and item["workflowInstance"]["status"] == "COMPLETED"

    entered = (
        await wf.get("/api/workflows/events", workflowInstanceId=instance["id"], eventType="STEP_ENTERED")
    ).json()
    assert entered["total"] == 3 and {e["eventType"] for e in entered["items"]} == {"STEP_ENTERED"}

    by_instance = (await wf.get(f"{INSTANCES}/{instance['id']}/events", eventType="STEP_ENTERED", limit=1)).json()
    assert by_instance["pagination"] == {"total": 3, "limit": 1, "offset": 0, "hasMore": True}

    detail = await wf.get(f"/api/workflows/events/{item['id']}")
    assert detail.status_code == 200
    assert detail.json()["id"] == item["id"] and detail.json()["eventType"] == item["eventType"]
    assert detail.json()["workflowInstance"]["currentStepId"] == "end"
    assert (await wf.get("/api/workflows/events/999999999")).status_code == 404
    assert (await wf.get(f"{INSTANCES}/{uuid.uuid4()}/events")).status_code == 404


# ---------------------------------------------------------------- tenancy and permissions


async def test_other_tenants_see_nothing(wf: WorkflowApi, make_account: MakeAccount, client: httpx.AsyncClient) -> None:
    workflow_id, instance = await wf.run(
        chain("private", step("review", "USER_TASK", userTaskConfig={"assignedTo": ["admin"]}))
    )
    [task] = await wf.wait_task(instance["id"])
    [definition] = (await wf.get("/api/workflows/definitions", workflowId=workflow_id)).json()["data"]
    [event] = (await wf.get("/api/workflows/events", workflowInstanceId=instance["id"], pageSize=1)).json()["items"]

    stranger = await make_account("admin")
    other = WorkflowApi(client, stranger)
    for path in (
        f"/api/workflows/definitions/{definition['id']}",
        f"{INSTANCES}/{instance['id']}",
        f"{INSTANCES}/{instance['id']}/events",
        f"/api/workflows/tasks/{task['id']}",
        f"/api/workflows/events/{event['id']}",
    ):
        assert (await other.get(path)).status_code == 404, path
    for path, body in (
        (f"{INSTANCES}/{instance['id']}/cancel", None),
        (f"{INSTANCES}/{instance['id']}/signal", {"signalName": "x"}),
        (f"/api/workflows/tasks/{task['id']}/complete", {"formData": {}}),
        (f"/api/workflows/tasks/{task['id']}/claim", None),
    ):
        assert (await other.post(path, body)).status_code == 404, path
    assert (await other.post(INSTANCES, {"workflowId": workflow_id})).status_code == 404
    assert (await other.put(f"/api/workflows/definitions/{definition['id']}", {"enabled": False})).status_code == 404
    assert (await other.delete(f"/api/workflows/definitions/{definition['id']}")).status_code == 404
    owned = (await wf.get(f"/api/workflows/definitions/{definition['id']}")).json()["data"]
    assert owned["enabled"] is True  # neither disabled nor deleted by the outsider
    assert (await wf.get(INSTANCES, workflowId=workflow_id)).json()["pagination"]["total"] == 1  # none started
    assert (await other.get("/api/workflows/definitions", workflowId=workflow_id)).json()["data"] == []
    assert (await other.get(INSTANCES, workflowId=workflow_id)).json()["data"] == []
    assert await other.tasks(workflowInstanceId=instance["id"]) == []
    assert (await other.get("/api/workflows/events", workflowInstanceId=instance["id"])).json()["total"] == 0
    assert (await wf.instance(instance["id"]))["status"] == "PAUSED"


async def test_employee_cannot_define_or_start_workflows(
    wf: WorkflowApi, make_account: MakeAccount, client: httpx.AsyncClient
) -> None:
    workflow_id, instance = await wf.run(chain("rbac", step("wait", "WAIT_FOR_SIGNAL")))
    employee = WorkflowApi(client, await make_account("employee", tenant_id=wf.account.tenant_id))
    refused_definition = chain(f"emp-{uuid.uuid4().hex[:6]}")
    created = await employee.post("/api/workflows/definitions", refused_definition)
    assert created.status_code == 403
    assert (await employee.post(INSTANCES, {"workflowId": workflow_id})).status_code == 403
    await wf.wait_status(instance["id"], "PAUSED")
    assert (await employee.signal(instance["id"], "wait")).status_code == 403
    assert (await employee.post(f"{INSTANCES}/{instance['id']}/cancel")).status_code == 403
    # Refused, and nothing happened: no definition, no second instance, the first still waits.
    listed = await wf.get("/api/workflows/definitions", workflowId=refused_definition["workflowId"])
    assert listed.json()["data"] == []
    assert (await wf.get(INSTANCES, workflowId=workflow_id)).json()["pagination"]["total"] == 1
    assert (await wf.instance(instance["id"]))["status"] == "PAUSED"
    assert (await employee.get(f"{INSTANCES}/{instance['id']}")).status_code == 200  # may still read
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as anonymous:
        assert (await anonymous.get(INSTANCES)).status_code == 401
