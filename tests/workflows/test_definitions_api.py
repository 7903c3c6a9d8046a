"""Workflow definitions through the HTTP API: CRUD, versions, validation, schema, delete guard,
filters and pagination, and version pinning of running instances."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.helpers import nothing_written
from tests.workflows.conftest import WorkflowApi, chain, flow, fn, step, tr

DEFS = "/api/workflows/definitions"


def echo_step(step_id: str, value: str) -> dict[str, Any]:
    return step(
        step_id,
        "AUTOMATED",
        activities=[
            {
                "activityId": f"{step_id}-echo",
                "activityName": f"{step_id}-echo",
                "activityType": "EXECUTE_FUNCTION",
                "config": {"functionName": "echo", "args": {"path": value}},
            }
        ],
    )


def marked(workflow_id: str, marker: str) -> dict[str, Any]:
    """START -> END whose transition echoes `marker` into context["marker"]."""
    return flow(workflow_id, [], [tr("start", "end", activities=[fn("marker", "echo", {"v": marker})])])


async def test_definition_crud_round_trips_in_contract_shapes(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    document = chain("crud-flow", step("work", "AUTOMATED"), description="Does work", metadata={"tags": ["a"]})
    created = await wf.create(document)
    assert created["id"] and created["version"] == 1 and created["enabled"] is True
    assert created["workflowName"] == "crud-flow" and created["description"] == "Does work"
    assert created["metadata"] == {"tags": ["a"]}
    assert [s["stepId"] for s in created["definition"]["steps"]] == ["start", "work", "end"]
    for key in ("tenantId", "organizationId", "createdAt", "updatedAt"):
        assert created[key], key

    listed = await wf.get(DEFS, workflowId=created["workflowId"])
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["data"]] == [created["id"]]

    detail = await wf.get(f"{DEFS}/{created['id']}")
    assert detail.status_code == 200
    assert detail.json()["data"]["definition"] == created["definition"]

    changed = {
        **created["definition"],
        "steps": [*created["definition"]["steps"][:2], step("more", "AUTOMATED"), created["definition"]["steps"][2]],
        "transitions": [tr("start", "work"), tr("work", "more"), tr("more", "end")],
    }
    updated = await wf.put(f"{DEFS}/{created['id']}", {"definition": changed, "enabled": False})
    assert updated.status_code == 200, updated.text
    assert updated.json()["message"] == "Workflow definition updated successfully"
    assert updated.json()["data"]["enabled"] is False
    assert len(updated.json()["data"]["definition"]["steps"]) == 4

    async with nothing_written(sessionmaker, wf.account.tenant_id):
        unknown_key = await wf.put(f"{DEFS}/{created['id']}", {"bogus": 1})
        assert unknown_key.status_code == 400
        assert unknown_key.json()["error"] == "Validation failed"

    deleted = await wf.delete(f"{DEFS}/{created['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Workflow definition deleted successfully"}
    assert (await wf.get(f"{DEFS}/{created['id']}")).json() == {"error": "Workflow definition not found"}
    assert (await wf.get(f"{DEFS}/{created['id']}")).status_code == 404
    assert (await wf.get(DEFS, workflowId=created["workflowId"])).json()["data"] == []
    assert (await wf.get(f"{DEFS}/not-a-uuid")).status_code == 404


async def test_fields_are_stored_as_the_checker_read_them(wf: WorkflowApi) -> None:
    # `enabled: "false"` passes the checker as false; it used to be stored as true (`bool("false")`).
    document = chain("typed-flow", step("work", "AUTOMATED"), description="typed", enabled="false")
    created = await wf.create({**document, "version": "2", "effectiveFrom": "2026-01-01T00:00:00+02:00"})
    assert (created["enabled"], created["version"]) == (False, 2)
    assert created["effectiveFrom"] == "2025-12-31T22:00:00.000Z" and created["effectiveTo"] is None

    # A PUT changes only what it names; null clears the effective dates and the description.
    cleared = await wf.put(f"{DEFS}/{created['id']}", {"effectiveFrom": None, "description": None})
    assert cleared.status_code == 200, cleared.text
    body = cleared.json()["data"]
    assert (body["effectiveFrom"], body["description"], body["enabled"], body["version"]) == (None, None, False, 2)
    assert body["definition"] == created["definition"] and body["createdAt"] == created["createdAt"]

    refused = await wf.put(f"{DEFS}/{created['id']}", {"workflowName": None})
    assert refused.status_code == 400 and refused.json()["details"][0]["path"] == "workflowName"
    assert (await wf.get(f"{DEFS}/{created['id']}")).json()["data"] == body


async def test_duplicate_workflow_id_and_version_is_409_with_the_contract_message(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    created = await wf.create(chain("dup-flow"))
    async with nothing_written(sessionmaker, wf.account.tenant_id):
        again = await wf.post(DEFS, {**chain(created["workflowId"]), "version": 1})
    assert again.status_code == 409
    assert again.json() == {
        "error": f'Workflow definition with ID "{created["workflowId"]}" and version 1 already exists'
    }


async def test_versions_coexist_and_start_without_version_takes_the_highest_enabled(wf: WorkflowApi) -> None:
    v1 = await wf.create(marked("versioned", "v1"))
    workflow_id = v1["workflowId"]
    v2 = await wf.create({**marked(workflow_id, "v2"), "version": 2}, unique=False)
    v3 = await wf.create({**marked(workflow_id, "v3"), "version": 3, "enabled": False}, unique=False)
    listed = (await wf.get(DEFS, workflowId=workflow_id)).json()
    assert sorted(d["version"] for d in listed["data"]) == [1, 2, 3]
    assert len({v1["id"], v2["id"], v3["id"]}) == 3

    latest = await wf.start(workflow_id)
    assert latest["version"] == 2 and latest["definitionId"] == v2["id"]
    pinned = await wf.start(workflow_id, version=1)
    assert pinned["version"] == 1
    for instance, expected in ((latest, "v2"), (pinned, "v1")):
        done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
        assert done["status"] == "COMPLETED", done
        assert done["context"]["marker"]["result"] == {"v": expected}

    disabled = await wf.post("/api/workflows/instances", {"workflowId": workflow_id, "version": 3})
    assert disabled.status_code == 400
    missing = await wf.post("/api/workflows/instances", {"workflowId": f"nope-{uuid.uuid4().hex[:6]}"})
    assert missing.status_code == 404
    assert (await wf.get("/api/workflows/instances")).json()["pagination"]["total"] == 2  # neither refusal started one


async def test_invalid_definition_lists_every_problem(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    document = flow(
        f"bad-{uuid.uuid4().hex[:6]}",
        [
            step("start", "START"),
            step("start2", "START"),
            step("timer", "WAIT_FOR_TIMER", config={"duration": "soon"}),
            step("timer", "AUTOMATED"),
            step("end", "END"),
        ],
        [tr("start", "timer"), tr("timer", "nowhere"), tr("timer", "end", "t-end")],
    )
    async with nothing_written(sessionmaker, wf.account.tenant_id):
        response = await wf.post(DEFS, document)
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "Validation failed"
        details = body["details"]
        assert len(details) >= 4, details
        for detail in details:
            assert set(detail) >= {"code", "message", "path"}, detail
            assert detail["path"].startswith("definition"), detail
        text = " ".join(d["message"] + " " + d["code"] for d in details).lower()
        assert "start" in text  # two STARTs
        assert "nowhere" in text  # unknown step reference
        assert "duplicate" in text or "unique" in text  # step id used twice
        assert "duration" in text  # bad timer duration

        too_small = await wf.post(
            DEFS, {"workflowId": "x-y", "workflowName": "x", "definition": {"steps": [], "transitions": []}}
        )
        assert too_small.status_code == 400
        paths = {d["path"] for d in too_small.json()["details"]}
        assert "definition.steps" in paths and "definition.transitions" in paths


async def test_definition_schema_is_a_json_schema(wf: WorkflowApi) -> None:
    response = await wf.get(f"{DEFS}/schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["type"] == "object"
    assert {"steps", "transitions"} <= set(schema["properties"])
    assert set(schema["required"]) >= {"steps", "transitions"}


async def test_delete_is_refused_while_an_instance_is_running(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    document = chain("guarded", step("wait", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "go"}))
    created = await wf.create(document)
    instance = await wf.start(created["workflowId"])
    await wf.wait_status(instance["id"], "PAUSED")
    async with nothing_written(sessionmaker, wf.account.tenant_id):
        refused = await wf.delete(f"{DEFS}/{created['id']}")
        assert refused.status_code == 409
        assert refused.json() == {"error": "Cannot delete workflow definition with 1 active instance(s)"}
    assert (await wf.signal(instance["id"], "go")).status_code == 200
    await wf.wait_status(instance["id"], "COMPLETED")
    assert (await wf.delete(f"{DEFS}/{created['id']}")).status_code == 200


async def test_list_filters_and_paginates(wf: WorkflowApi) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = []
    for i in range(3):
        created = await wf.create(
            chain(f"pager-{tag}-{i}", workflowName=f"Pager {tag} {i}", enabled=i != 2), unique=False
        )
        ids.append(created["workflowId"])
    await wf.create(chain(f"other-{tag}"), unique=False)

    page = (await wf.get(DEFS, search=f"pager-{tag}", limit=2, offset=0)).json()
    assert page["pagination"] == {"total": 3, "limit": 2, "offset": 0, "hasMore": True}
    assert len(page["data"]) == 2
    rest = (await wf.get(DEFS, search=f"PAGER {tag}", limit=2, offset=2)).json()  # name match, any case
    assert rest["pagination"] == {"total": 3, "limit": 2, "offset": 2, "hasMore": False}
    assert {d["workflowId"] for d in page["data"] + rest["data"]} == set(ids)

    enabled = (await wf.get(DEFS, search=f"pager-{tag}", enabled="true")).json()
    assert {d["workflowId"] for d in enabled["data"]} == set(ids[:2])
    disabled = (await wf.get(DEFS, search=f"pager-{tag}", enabled="false")).json()
    assert [d["workflowId"] for d in disabled["data"]] == [ids[2]]
    one = (await wf.get(DEFS, workflowId=ids[1])).json()
    assert [d["workflowId"] for d in one["data"]] == [ids[1]]
    assert one["pagination"]["total"] == 1


async def test_running_instance_keeps_the_path_it_started_with(wf: WorkflowApi) -> None:
    original = flow(
        "pinned",
        [step("wait", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "go"}), echo_step("old-path", "old")],
        [tr("start", "wait"), tr("wait", "old-path"), tr("old-path", "end")],
    )
    created = await wf.create(original)
    instance = await wf.start(created["workflowId"])
    await wf.wait_status(instance["id"], "PAUSED")

    changed = {
        "steps": [
            step("start", "START"),
            step("wait", "WAIT_FOR_SIGNAL", signalConfig={"signalName": "go"}),
            echo_step("new-path", "new"),
            step("end", "END"),
        ],
        "transitions": [tr("start", "wait"), tr("wait", "new-path"), tr("new-path", "end")],
    }
    assert (await wf.put(f"{DEFS}/{created['id']}", {"definition": changed})).status_code == 200

    assert (await wf.signal(instance["id"], "go")).status_code == 200
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    entered = [e["eventData"]["stepId"] for e in await wf.events(instance["id"]) if e["eventType"] == "STEP_ENTERED"]
    assert "old-path" in entered and "new-path" not in entered

    fresh = await wf.start(created["workflowId"])
    await wf.wait_status(fresh["id"], "PAUSED")
    # Disabling the definition does not stop an instance that already started.
    assert (await wf.put(f"{DEFS}/{created['id']}", {"enabled": False})).status_code == 200
    assert (await wf.post("/api/workflows/instances", {"workflowId": created["workflowId"]})).status_code == 404
    assert (await wf.get("/api/workflows/instances")).json()["pagination"]["total"] == 2  # none started
    assert (await wf.signal(fresh["id"], "go")).status_code == 200
    await wf.wait_status(fresh["id"], "COMPLETED")
    entered = [e["eventData"]["stepId"] for e in await wf.events(fresh["id"]) if e["eventType"] == "STEP_ENTERED"]
    assert "new-path" in entered


async def test_validate_start_answers_whether_an_instance_could_start(wf: WorkflowApi) -> None:
    created = await wf.create(chain("startable"))
    path = "/api/workflows/instances/validate-start"
    ok = await wf.post(path, {"workflowId": created["workflowId"], "context": {"a": 1}})
    assert ok.status_code == 200
    assert ok.json() == {"canStart": True, "workflowId": created["workflowId"]}
    unknown = (await wf.post(path, {"workflowId": "no-such-flow"})).json()
    assert unknown["canStart"] is False and unknown["errors"][0]["code"] == "DEFINITION_NOT_FOUND"
    assert (await wf.post(path, {"workflowId": ""})).status_code == 400

    gated = chain("gated-start")
    gated["definition"]["steps"][0]["preConditions"] = [
        {"ruleId": "missing-rule", "validationMessage": {"en": "Not allowed yet"}}
    ]
    gated_def = await wf.create(gated)
    refused = (await wf.post(path, {"workflowId": gated_def["workflowId"]})).json()
    assert refused["canStart"] is False
    assert refused["errors"] == [{"ruleId": "missing-rule", "message": "Not allowed yet", "code": "RULE_NOT_FOUND"}]


async def test_instance_list_filters_and_paginates(wf: WorkflowApi) -> None:
    created = await wf.create(chain("listed", step("wait", "WAIT_FOR_SIGNAL")))
    workflow_id = created["workflowId"]
    waiting = await wf.start(workflow_id, correlationKey="k-1", metadata={"entityType": "order", "entityId": "o-1"})
    other = await wf.start(workflow_id, correlationKey="k-2", metadata={"entityType": "order", "entityId": "o-2"})
    for instance in (waiting, other):
        await wf.wait_status(instance["id"], "PAUSED")
    assert (await wf.signal(other["id"], "wait")).status_code == 200
    await wf.wait_status(other["id"], "COMPLETED")

    def ids(response: Any) -> set[str]:
        return {i["id"] for i in response.json()["data"]}

    instances = "/api/workflows/instances"
    assert ids(await wf.get(instances, workflowId=workflow_id)) == {waiting["id"], other["id"]}
    assert ids(await wf.get(instances, workflowId=workflow_id, status="PAUSED")) == {waiting["id"]}
    assert ids(await wf.get(instances, workflowId=workflow_id, status="paused,completed")) == {
        waiting["id"],
        other["id"],
    }
    assert ids(await wf.get(instances, workflowId=workflow_id, correlationKey="k-2")) == {other["id"]}
    assert ids(await wf.get(instances, workflowId=workflow_id, entityType="order", entityId="o-1")) == {waiting["id"]}
    page = (await wf.get(instances, workflowId=workflow_id, limit=1, offset=0)).json()
    assert page["pagination"] == {"total": 2, "limit": 1, "offset": 0, "hasMore": True}
    assert page["data"][0]["id"] == other["id"]  # newest first
    detail = await wf.instance(waiting["id"])
    assert detail["metadata"]["entityId"] == "o-1" and detail["metadata"]["initiatedBy"] == str(wf.account.user_id)
    assert (await wf.get(f"{instances}/{uuid.uuid4()}")).status_code == 404
