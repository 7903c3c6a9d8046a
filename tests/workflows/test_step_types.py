"""Every step type, as an API consumer sees it: AUTOMATED, USER_TASK, WAIT_FOR_SIGNAL (with its
timeout), WAIT_FOR_TIMER, SUB_WORKFLOW and PARALLEL_FORK/JOIN."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import MakeAccount
from tests.helpers import nothing_written
from tests.workflows.conftest import WorkflowApi, chain, flow, fn, step, tr

INSTANCES = "/api/workflows/instances"
TASKS = "/api/workflows/tasks"


def wait_signal(step_id: str, name: str, timeout: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"signalName": name}
    if timeout:
        config["timeout"] = timeout
    return step(step_id, "WAIT_FOR_SIGNAL", signalConfig=config)


def review_task(step_id: str = "review", **config: Any) -> dict[str, Any]:
    return step(step_id, "USER_TASK", userTaskConfig={"assignedTo": ["admin"], **config})


# ---------------------------------------------------------------- AUTOMATED


async def test_automated_step_runs_its_activities_and_completes(wf: WorkflowApi) -> None:
    work = step("work", "AUTOMATED", activities=[fn("say", "echo", {"greeting": "hi {{context.name}}"})])
    _, instance = await wf.run(chain("automated", work), initialContext={"name": "Ada"})
    assert instance["status"] == "RUNNING" and instance["currentStepId"] == "start"
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert done["completedAt"] and done["currentStepId"] == "end"
    types = await wf.event_types(instance["id"])
    assert types[0] == "WORKFLOW_STARTED" and types[-1] == "WORKFLOW_COMPLETED"
    exited = [e for e in await wf.events(instance["id"]) if e["eventType"] == "STEP_EXITED"]
    assert {e["eventData"]["stepId"] for e in exited} == {"work", "end"}
    assert next(e for e in exited if e["eventData"]["stepId"] == "work")["eventData"]["hasOutput"] is True


# ---------------------------------------------------------------- USER_TASK


async def test_role_queue_task_is_claimed_completed_and_merges_form_data(wf: WorkflowApi) -> None:
    _, instance = await wf.run(chain("approval", review_task()), initialContext={"requestId": 7})
    paused = await wf.wait_status(instance["id"], "PAUSED")
    assert paused["currentStepId"] == "review"
    [task] = await wf.wait_task(instance["id"])
    assert task["status"] == "PENDING"
    assert task["assignedTo"] is None and task["assignedToRoles"] == ["admin"]
    assert task["taskName"] == "Review" and task["workflowInstanceId"] == instance["id"]

    claimed = await wf.post(f"{TASKS}/{task['id']}/claim")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["message"] == "Task claimed successfully"
    assert claimed.json()["data"]["status"] == "IN_PROGRESS"
    assert claimed.json()["data"]["claimedBy"] == str(wf.account.user_id)
    assert (await wf.get(f"{TASKS}/{task['id']}")).json()["data"]["status"] == "IN_PROGRESS"
    assert (await wf.post(f"{TASKS}/{task['id']}/claim")).status_code == 409

    completed = await wf.post(f"{TASKS}/{task['id']}/complete", {"formData": {"approved": True}, "comments": "ok"})
    assert completed.status_code == 200, completed.text
    assert completed.json()["message"] == "Task completed successfully. Workflow resumed."
    data = completed.json()["data"]
    assert data["status"] == "COMPLETED" and data["completedBy"] == str(wf.account.user_id) and data["completedAt"]
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert done["context"] == {"requestId": 7, "approved": True}
    again = await wf.post(f"{TASKS}/{task['id']}/complete", {"formData": {}})
    assert again.status_code == 409
    assert (await wf.post(f"{TASKS}/{uuid.uuid4()}/complete", {"formData": {}})).status_code == 404
    types = await wf.event_types(instance["id"])
    assert {"USER_TASK_CREATED", "USER_TASK_STARTED", "USER_TASK_COMPLETED"} <= set(types)


async def test_task_list_filters(wf: WorkflowApi, make_account: MakeAccount) -> None:
    document = flow(
        "task-filters",
        [review_task("late", slaDuration="1s"), review_task("other")],
        [tr("start", "late"), tr("late", "other"), tr("other", "end")],
    )
    _, first = await wf.run(document)
    _, second = await wf.run(document)
    [late] = await wf.wait_task(first["id"])
    [_] = await wf.wait_task(second["id"])

    mine = await wf.tasks(workflowInstanceId=first["id"], myTasks="true")
    assert [t["id"] for t in mine] == [late["id"]]
    outsider = await make_account("employee", tenant_id=wf.account.tenant_id)
    not_theirs = await wf.client.get(
        TASKS, params={"workflowInstanceId": first["id"], "myTasks": "true"}, headers=outsider.headers
    )
    assert not_theirs.status_code == 200 and not_theirs.json()["data"] == []  # not in the admin queue
    refused = await wf.client.post(f"{TASKS}/{late['id']}/claim", headers=outsider.headers)
    assert refused.status_code == 403

    assert (await wf.post(f"{TASKS}/{late['id']}/claim")).status_code == 200
    assert [t["id"] for t in await wf.tasks(workflowInstanceId=first["id"], status="IN_PROGRESS")] == [late["id"]]
    assert await wf.tasks(workflowInstanceId=first["id"], status="PENDING") == []
    both = await wf.tasks(workflowInstanceId=first["id"], status="PENDING,IN_PROGRESS")
    assert [t["id"] for t in both] == [late["id"]]

    await asyncio.sleep(1.1)  # the 1s SLA passes
    overdue = await wf.tasks(workflowInstanceId=first["id"], overdue="true")
    assert [t["id"] for t in overdue] == [late["id"]]
    completed = await wf.post(f"{TASKS}/{late['id']}/complete", {"formData": {}})
    assert completed.status_code == 200
    [other] = await wf.wait_task(first["id"])
    assert other["dueDate"] is None
    assert await wf.tasks(workflowInstanceId=first["id"], overdue="true") == []

    page = (await wf.get(TASKS, workflowInstanceId=first["id"], limit=1, offset=0)).json()
    assert page["pagination"]["total"] == 2 and page["pagination"]["hasMore"] is True
    assert len(page["data"]) == 1


# ---------------------------------------------------------------- WAIT_FOR_SIGNAL


async def test_signal_resumes_the_waiting_instance_with_its_payload(wf: WorkflowApi) -> None:
    _, instance = await wf.run(chain("signal", wait_signal("wait", "approved")), initialContext={"a": 1})
    paused = await wf.wait_status(instance["id"], "PAUSED")
    assert paused["currentStepId"] == "wait" and paused["pausedAt"]
    before = await wf.events(instance["id"])
    assert before[-1]["eventType"] == "SIGNAL_AWAITING"

    wrong = await wf.signal(instance["id"], "rejected", {"x": 1})
    assert wrong.status_code == 400
    assert await wf.events(instance["id"]) == before  # nothing recorded
    assert (await wf.instance(instance["id"]))["context"] == {"a": 1}

    ok = await wf.signal(instance["id"], "approved", {"by": "boss"})
    assert ok.status_code == 200
    assert ok.json() == {"success": True, "message": "Signal sent successfully"}
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert done["context"]["a"] == 1 and done["context"]["by"] == "boss"
    assert done["context"]["signal_approved_payload"] == {"by": "boss"}
    assert done["context"]["signal_approved_receivedAt"]
    received = [e for e in await wf.events(instance["id"]) if e["eventType"] == "SIGNAL_RECEIVED"]
    assert [e["eventData"] for e in received] == [{"signalName": "approved", "payload": {"by": "boss"}}]

    late = await wf.signal(instance["id"], "approved")
    assert late.status_code == 409
    unknown = await wf.signal(str(uuid.uuid4()), "approved")
    assert unknown.status_code == 404


async def test_signal_to_an_instance_that_is_not_waiting_is_409(wf: WorkflowApi) -> None:
    _, instance = await wf.run(chain("busy", review_task()))
    await wf.wait_status(instance["id"], "PAUSED")
    await wf.wait_task(instance["id"])
    before = await wf.events(instance["id"])
    response = await wf.signal(instance["id"], "anything")
    assert response.status_code == 409
    assert await wf.events(instance["id"]) == before


async def test_signal_by_correlation_key_resumes_every_waiting_instance(wf: WorkflowApi) -> None:
    workflow_id, first = await wf.run(chain("fanout", wait_signal("wait", "paid")), correlationKey="order-1")
    second = await wf.start(workflow_id, correlationKey="order-1")
    third = await wf.start(workflow_id, correlationKey="order-2")
    for instance in (first, second, third):
        await wf.wait_status(instance["id"], "PAUSED")

    none = await wf.post("/api/workflows/signals", {"correlationKey": f"none-{uuid.uuid4().hex}", "signalName": "paid"})
    assert none.status_code == 200
    assert none.json() == {"success": True, "message": "Signal sent to 0 workflow(s)", "count": 0}
    wrong_name = await wf.post("/api/workflows/signals", {"correlationKey": "order-1", "signalName": "other"})
    assert wrong_name.json()["count"] == 0

    sent = await wf.post(
        "/api/workflows/signals", {"correlationKey": "order-1", "signalName": "paid", "payload": {"v": 2}}
    )
    assert sent.status_code == 200
    assert sent.json() == {"success": True, "message": "Signal sent to 2 workflow(s)", "count": 2}
    for instance in (first, second):
        done = await wf.wait_status(instance["id"], "COMPLETED")
        assert done["context"]["v"] == 2
    assert (await wf.instance(third["id"]))["status"] == "PAUSED"
    listed = (await wf.get(INSTANCES, correlationKey="order-1", workflowId=workflow_id)).json()
    assert {i["id"] for i in listed["data"]} == {first["id"], second["id"]}


async def test_signal_timeout_takes_the_timer_transition(wf: WorkflowApi) -> None:
    document = flow(
        "signal-timeout",
        [wait_signal("wait", "paid", timeout="1s"), step("paid", "AUTOMATED"), step("expired", "AUTOMATED")],
        [
            tr("start", "wait"),
            tr("wait", "paid", trigger="signal"),
            tr("wait", "expired", trigger="timer"),
            tr("paid", "end"),
            tr("expired", "end"),
        ],
    )
    _, instance = await wf.run(document)
    await wf.wait_status(instance["id"], "PAUSED")
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED", timeout=15)
    assert done["status"] == "COMPLETED", done
    entered = [e["eventData"]["stepId"] for e in await wf.events(instance["id"]) if e["eventType"] == "STEP_ENTERED"]
    assert "expired" in entered and "paid" not in entered
    assert (await wf.signal(instance["id"], "paid")).status_code == 409


async def test_signal_timeout_without_a_timer_transition_fails_the_instance(wf: WorkflowApi) -> None:
    _, instance = await wf.run(chain("signal-timeout-fail", wait_signal("wait", "paid", timeout="1s")))
    await wf.wait_status(instance["id"], "PAUSED")
    failed = await wf.wait_status(instance["id"], "FAILED", "COMPLETED", timeout=15)
    assert failed["status"] == "FAILED", failed
    assert "SIGNAL_TIMEOUT" in failed["errorMessage"]
    assert "WORKFLOW_FAILED" in await wf.event_types(instance["id"])


# ---------------------------------------------------------------- WAIT_FOR_TIMER


async def test_timer_pauses_then_fires_and_completes(wf: WorkflowApi) -> None:
    _, instance = await wf.run(chain("timer", step("sleep", "WAIT_FOR_TIMER", config={"duration": "1s"})))
    paused = await wf.wait_status(instance["id"], "PAUSED", "COMPLETED")
    assert paused["status"] == "PAUSED" and paused["currentStepId"] == "sleep"
    awaiting = [e for e in await wf.events(instance["id"]) if e["eventType"] == "TIMER_AWAITING"]
    assert len(awaiting) == 1 and awaiting[0]["eventData"]["fireAt"]
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED", timeout=15)
    assert done["status"] == "COMPLETED", done
    types = await wf.event_types(instance["id"])
    assert types.index("TIMER_AWAITING") < types.index("TIMER_FIRED") < types.index("WORKFLOW_COMPLETED")


# ---------------------------------------------------------------- SUB_WORKFLOW


async def children_of(wf: WorkflowApi, workflow_id: str, status: str | None = None) -> list[dict[str, Any]]:
    """Instances of the child definition, once there is one (in `status`, when given)."""
    for _ in range(400):
        found = (await wf.get(INSTANCES, workflowId=workflow_id)).json()["data"]
        if found and (status is None or found[0]["status"] == status):
            return list(found)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no child instance of {workflow_id}")


async def test_sub_workflow_waits_for_its_child_and_maps_the_output_back(wf: WorkflowApi) -> None:
    child = await wf.create(
        chain(
            "child",
            wait_signal("wait", "child_go"),
            step("work", "AUTOMATED"),
        )
    )
    parent_doc = chain(
        "parent",
        step(
            "call",
            "SUB_WORKFLOW",
            config={
                "subWorkflowId": child["workflowId"],
                "inputMapping": {"orderId": "order.id"},
                "outputMapping": {"childResult": "answer", "childOrder": "orderId"},
            },
        ),
    )
    _, parent = await wf.run(parent_doc, initialContext={"order": {"id": 42}, "secret": "parent-only"})
    await wf.wait_for(parent["id"], lambda i: i["currentStepId"] == "call")
    [kid] = await children_of(wf, child["workflowId"], "PAUSED")
    assert kid["status"] == "PAUSED" and kid["parentInstanceId"] == parent["id"]
    assert kid["context"] == {"orderId": 42}
    assert (await wf.instance(parent["id"]))["status"] not in ("COMPLETED", "FAILED")

    assert (await wf.signal(kid["id"], "child_go", {"answer": "yes"})).status_code == 200
    done = await wf.wait_status(parent["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert done["context"]["childResult"] == "yes" and done["context"]["childOrder"] == 42
    assert (await wf.instance(kid["id"]))["status"] == "COMPLETED"
    types = await wf.event_types(parent["id"])
    assert "SUB_WORKFLOW_STARTED" in types and "SUB_WORKFLOW_COMPLETED" in types


async def test_sub_workflow_waits_on_the_childs_user_task(wf: WorkflowApi) -> None:
    child = await wf.create(chain("child-task", review_task()))
    parent_doc = chain(
        "parent-task",
        step(
            "call", "SUB_WORKFLOW", config={"subWorkflowId": child["workflowId"], "outputMapping": {"ok": "approved"}}
        ),
    )
    _, parent = await wf.run(parent_doc)
    [kid] = await children_of(wf, child["workflowId"])
    [task] = await wf.wait_task(kid["id"])
    assert (await wf.instance(parent["id"]))["status"] not in ("COMPLETED", "FAILED")
    assert (await wf.post(f"{TASKS}/{task['id']}/complete", {"formData": {"approved": True}})).status_code == 200
    done = await wf.wait_status(parent["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert done["context"]["ok"] is True


async def test_failing_child_fails_the_parent_step(wf: WorkflowApi) -> None:
    child = await wf.create(chain("child-fail", step("boom", "AUTOMATED", activities=[fn("boom", "fail")])))
    _, parent = await wf.run(
        chain("parent-fail", step("call", "SUB_WORKFLOW", config={"subWorkflowId": child["workflowId"]}))
    )
    failed = await wf.wait_status(parent["id"], "FAILED", "COMPLETED")
    assert failed["status"] == "FAILED", failed
    assert child["workflowId"] in failed["errorMessage"]
    types = await wf.event_types(parent["id"])
    assert "SUB_WORKFLOW_FAILED" in types and "STEP_FAILED" in types
    [kid] = (await wf.get(INSTANCES, workflowId=child["workflowId"])).json()["data"]
    assert kid["status"] == "FAILED"


# ---------------------------------------------------------------- PARALLEL_FORK / PARALLEL_JOIN


def fork_flow(workflow_id: str, left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return flow(
        workflow_id,
        [
            step("fork", "PARALLEL_FORK", config={"joinStepId": "join"}),
            left,
            right,
            step("join", "PARALLEL_JOIN", config={"forkStepId": "fork"}),
        ],
        [
            tr("start", "fork"),
            tr("fork", left["stepId"], "to-left"),
            tr("fork", right["stepId"], "to-right"),
            tr(left["stepId"], "join"),
            tr(right["stepId"], "join"),
            tr("join", "end"),
        ],
    )


async def test_two_automated_branches_join_and_complete(wf: WorkflowApi) -> None:
    document = fork_flow("fork-auto", step("left", "AUTOMATED"), step("right", "AUTOMATED"))
    document["definition"]["transitions"][3]["activities"] = [fn("left-out", "echo", {"side": "left"})]
    _, instance = await wf.run(document)
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert set(done["context"]["branches"]) == {"to-left", "to-right"}
    assert done["context"]["branches"]["to-left"]["left-out"]["result"] == {"side": "left"}
    types = await wf.event_types(instance["id"])
    assert "PARALLEL_FORK_OPENED" in types and "PARALLEL_JOIN_COMPLETED" in types
    assert types.count("PARALLEL_BRANCH_COMPLETED") == 2


async def test_branch_with_a_task_pauses_while_its_sibling_proceeds(wf: WorkflowApi) -> None:
    document = fork_flow(
        "fork-task", review_task("left"), step("right", "AUTOMATED", activities=[fn("r", "echo", {"x": 1})])
    )
    _, instance = await wf.run(document)
    [task] = await wf.wait_task(instance["id"])
    types = await wf.wait_event(instance["id"], "PARALLEL_BRANCH_COMPLETED")
    forked = await wf.instance(instance["id"])
    assert forked["status"] == "FORKED" and forked["activeForkStepId"] == "fork"
    assert types.count("PARALLEL_BRANCH_COMPLETED") == 1
    assert task["branchKey"] == "to-left"

    done_task = await wf.post(f"{TASKS}/{task['id']}/complete", {"formData": {"approved": True}})
    assert done_task.status_code == 200
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert done["context"]["branches"]["to-left"] == {"approved": True}
    assert "approved" not in done["context"]  # branch writes stay in the branch namespace
    assert "PARALLEL_JOIN_COMPLETED" in await wf.event_types(instance["id"])


async def test_failing_branch_cancels_its_sibling_and_its_open_task(wf: WorkflowApi) -> None:
    document = fork_flow("fork-fail", review_task("left"), step("right", "AUTOMATED"))
    document["definition"]["transitions"][4]["activities"] = [fn("boom", "fail", {"message": "no stock"})]
    # Let the task open before the failing branch fails: the failing branch waits 1s first.
    document["definition"]["transitions"][2]["activities"] = [
        {"activityId": "pause", "activityName": "pause", "activityType": "WAIT", "config": {"duration": "1s"}}
    ]
    _, instance = await wf.run(document)
    [task] = await wf.wait_task(instance["id"])
    failed = await wf.wait_status(instance["id"], "FAILED", "COMPLETED")
    assert failed["status"] == "FAILED", failed
    assert "no stock" in failed["errorMessage"]
    [cancelled] = await wf.tasks(workflowInstanceId=instance["id"])
    assert cancelled["id"] == task["id"] and cancelled["status"] == "CANCELLED"
    events = await wf.events(instance["id"])
    types = [e["eventType"] for e in events]
    assert "PARALLEL_BRANCH_FAILED" in types and "PARALLEL_FORK_FAILED" in types
    [branch_cancelled] = [e for e in events if e["eventType"] == "PARALLEL_BRANCH_CANCELLED"]
    assert branch_cancelled["eventData"] == {"branchKey": "to-left", "reason": "sibling-failed"}


async def test_sub_workflow_that_does_not_exist_fails_the_parent(wf: WorkflowApi) -> None:
    missing = f"missing-{uuid.uuid4().hex[:6]}"
    _, parent = await wf.run(chain("parent-missing", step("call", "SUB_WORKFLOW", config={"subWorkflowId": missing})))
    failed = await wf.wait_status(parent["id"], "FAILED", "COMPLETED")
    assert failed["status"] == "FAILED", failed
    assert missing in failed["errorMessage"]
    assert "STEP_FAILED" in await wf.event_types(parent["id"])


async def test_cancelling_the_parent_cancels_the_waiting_child(wf: WorkflowApi) -> None:
    child = await wf.create(chain("child-cancel", review_task()))
    _, parent = await wf.run(
        chain("parent-cancel", step("call", "SUB_WORKFLOW", config={"subWorkflowId": child["workflowId"]}))
    )
    [kid] = await children_of(wf, child["workflowId"], "PAUSED")
    [task] = await wf.wait_task(kid["id"])
    response = await wf.post(f"{INSTANCES}/{parent['id']}/cancel")
    assert response.status_code == 200, response.text
    assert (await wf.instance(parent["id"]))["status"] == "CANCELLED"
    cancelled_kid = await wf.wait_status(kid["id"], "CANCELLED", "COMPLETED", "FAILED")
    assert cancelled_kid["status"] == "CANCELLED"
    assert (await wf.get(f"{TASKS}/{task['id']}")).json()["data"]["status"] == "CANCELLED"


async def test_cancelling_a_forked_instance_cancels_branch_tasks(wf: WorkflowApi) -> None:
    document = fork_flow("fork-cancel", review_task("left"), review_task("right"))
    _, instance = await wf.run(document)
    tasks = await wf.wait_task(instance["id"], count=2)
    assert (await wf.instance(instance["id"]))["status"] == "FORKED"
    response = await wf.post(f"{INSTANCES}/{instance['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "CANCELLED"
    statuses = {t["id"]: t["status"] for t in await wf.tasks(workflowInstanceId=instance["id"])}
    assert statuses == {t["id"]: "CANCELLED" for t in tasks}


async def test_signal_reaches_the_branch_waiting_for_it(wf: WorkflowApi) -> None:
    document = fork_flow("fork-signal", wait_signal("left", "left_go"), wait_signal("right", "right_go"))
    _, instance = await wf.run(document)
    await wf.wait_for(instance["id"], lambda i: i["status"] == "FORKED")
    types: list[str] = []
    while types.count("SIGNAL_AWAITING") < 2:
        types = await wf.event_types(instance["id"])
        await asyncio.sleep(0.05)
    assert (await wf.signal(instance["id"], "nope")).status_code == 400
    assert (await wf.signal(instance["id"], "right_go", {"r": 1})).status_code == 200
    assert (await wf.signal(instance["id"], "right_go")).status_code == 400  # that branch moved on
    assert (await wf.signal(instance["id"], "left_go", {"l": 1})).status_code == 200
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    assert done["context"]["branches"]["to-right"]["r"] == 1
    assert done["context"]["branches"]["to-left"]["l"] == 1


async def test_the_same_signal_sent_twice_at_once_is_taken_once(wf: WorkflowApi) -> None:
    _, instance = await wf.run(chain("signal-race", wait_signal("wait", "go")))
    await wf.wait_status(instance["id"], "PAUSED")
    responses = await asyncio.gather(*(wf.signal(instance["id"], "go", {"n": n}) for n in range(4)))
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409], [r.text for r in responses]
    await wf.wait_status(instance["id"], "COMPLETED")
    assert (await wf.event_types(instance["id"])).count("SIGNAL_RECEIVED") == 1


async def test_the_same_task_completed_twice_at_once_is_completed_once(wf: WorkflowApi) -> None:
    _, instance = await wf.run(chain("task-race", review_task()))
    [task] = await wf.wait_task(instance["id"])
    responses = await asyncio.gather(
        *(wf.post(f"{TASKS}/{task['id']}/complete", {"formData": {"n": n}}) for n in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409], [r.text for r in responses]
    done = await wf.wait_status(instance["id"], "COMPLETED")
    winner = next(r for r in responses if r.status_code == 200).json()["data"]["formData"]
    assert done["context"]["n"] == winner["n"]
    assert (await wf.event_types(instance["id"])).count("USER_TASK_COMPLETED") == 1


async def test_task_form_required_fields_are_enforced(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    schema = {"type": "object", "properties": {"approved": {"type": "boolean"}}, "required": ["approved"]}
    _, instance = await wf.run(chain("task-form", review_task(formSchema=schema)))
    [task] = await wf.wait_task(instance["id"])
    assert task["formSchema"] == schema
    await wf.wait_status(instance["id"], "PAUSED")
    async with nothing_written(sessionmaker, wf.account.tenant_id):
        missing = await wf.post(f"{TASKS}/{task['id']}/complete", {"formData": {"comment": "hm"}})
    assert missing.status_code == 400
    assert missing.json() == {
        "error": "Form validation failed",
        "details": [{"path": "approved", "message": "Required field missing"}],
    }
    assert (await wf.get(f"{TASKS}/{task['id']}")).json()["data"]["status"] == "PENDING"
    ok = await wf.post(f"{TASKS}/{task['id']}/complete", {"formData": {"approved": False}})
    assert ok.status_code == 200
    assert (await wf.wait_status(instance["id"], "COMPLETED"))["context"]["approved"] is False


async def test_task_assigned_to_one_user_is_listed_and_claimed_by_them(wf: WorkflowApi) -> None:
    user_task = step("review", "USER_TASK", userTaskConfig={"assignedTo": str(wf.account.user_id)})
    _, instance = await wf.run(chain("task-user", user_task))
    [task] = await wf.wait_task(instance["id"])
    assert task["assignedTo"] == str(wf.account.user_id) and not task["assignedToRoles"]
    assert [t["id"] for t in await wf.tasks(workflowInstanceId=instance["id"], myTasks="true")] == [task["id"]]
    assert [t["id"] for t in await wf.tasks(assignedTo=str(wf.account.user_id))] == [task["id"]]
    assert (await wf.post(f"{TASKS}/{task['id']}/claim")).status_code == 200
    assert (await wf.post(f"{TASKS}/{task['id']}/claim")).status_code == 409


async def test_timer_until_a_moment_fires_then(wf: WorkflowApi) -> None:
    from datetime import UTC, datetime, timedelta

    until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    _, instance = await wf.run(chain("timer-until", step("sleep", "WAIT_FOR_TIMER", config={"until": until})))
    paused = await wf.wait_status(instance["id"], "PAUSED", "COMPLETED")
    assert paused["status"] == "PAUSED"
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED", timeout=15)
    assert done["status"] == "COMPLETED", done
    assert "TIMER_FIRED" in await wf.event_types(instance["id"])
