"""The task inbox through HTTP: who may claim, complete, release, reassign and change a task, the
claim race, my tasks with filters and sorts, form validation and idempotent completion."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import Role
from tests.conftest import Account, MakeAccount
from tests.helpers import nothing_written
from tests.workflows.conftest import WorkflowApi, chain, step

TASKS = "/api/workflows/tasks"


@dataclass
class Team:
    """One tenant: `manager` (admin: workflows.tasks.manage), `member` (employee + reviewer, the
    queue's role), `other` (employee only), and `foreign` (an admin of another tenant)."""

    manager: WorkflowApi
    member: WorkflowApi
    other: WorkflowApi
    foreign: WorkflowApi


@pytest.fixture
async def team(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> Team:
    async with sessionmaker() as session, session.begin():
        session.add(Role(id=uuid.uuid4(), tenant_id=admin.tenant_id, name="reviewer"))
    member = await make_account("employee", "reviewer", tenant_id=admin.tenant_id)
    other = await make_account("employee", tenant_id=admin.tenant_id)
    foreign = await make_account("admin")
    return Team(*(WorkflowApi(client, a) for a in (admin, member, other, foreign)))


def queue_task(step_id: str = "review", **config: Any) -> dict[str, Any]:
    return step(step_id, "USER_TASK", userTaskConfig={"assignedTo": ["reviewer"], **config})


async def open_task(team: Team, user_task: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    _, instance = await team.manager.run(chain("inbox", user_task or queue_task()))
    [task] = await team.manager.wait_task(instance["id"])
    return instance, task


async def status_of(api: WorkflowApi, task_id: str) -> str:
    return str((await api.get(f"{TASKS}/{task_id}")).json()["data"]["status"])


async def test_role_queue_task_permission_matrix(team: Team, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    instance, task = await open_task(team)
    claim, complete = f"{TASKS}/{task['id']}/claim", f"{TASKS}/{task['id']}/complete"
    await team.manager.wait_status(instance["id"], "PAUSED")

    async with (
        nothing_written(sessionmaker, team.manager.account.tenant_id),
        nothing_written(sessionmaker, team.foreign.account.tenant_id),
    ):
        assert (await team.foreign.post(claim)).status_code == 404
        assert (await team.foreign.post(complete, {"formData": {}})).status_code == 404
        refused = await team.other.post(claim)
        assert refused.status_code == 403 and refused.json() == {"error": "You are not in this task's role queue"}
        assert (await team.other.post(complete, {"formData": {}})).status_code == 403
        unclaimed = await team.member.post(complete, {"formData": {}})
        assert unclaimed.status_code == 403 and unclaimed.json()["error"] == "Claim the task before completing it"
    assert await status_of(team.manager, task["id"]) == "PENDING"  # nothing changed

    claimed = await team.member.post(claim)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["data"]["claimedBy"] == str(team.member.account.user_id)
    assert (await team.other.post(complete, {"formData": {}})).status_code == 403
    assert (await team.member.post(complete, {"formData": {"ok": 1}})).status_code == 200
    assert (await team.manager.wait_status(instance["id"], "COMPLETED"))["context"]["ok"] == 1


async def test_direct_assignee_and_manager(team: Team, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    other_id = str(team.other.account.user_id)
    first, task = await open_task(team, step("review", "USER_TASK", userTaskConfig={"assignedTo": other_id}))
    await team.manager.wait_status(first["id"], "PAUSED")
    async with nothing_written(sessionmaker, team.manager.account.tenant_id):
        assert (await team.member.post(f"{TASKS}/{task['id']}/claim")).status_code == 403
        assert (await team.member.post(f"{TASKS}/{task['id']}/complete", {"formData": {}})).status_code == 403
    # The assignee completes without claiming.
    assert (await team.other.post(f"{TASKS}/{task['id']}/complete", {"formData": {}})).status_code == 200

    # A manager claims and completes a task of a queue they are not in.
    instance, queued = await open_task(team)
    assert (await team.manager.post(f"{TASKS}/{queued['id']}/claim")).status_code == 200
    assert (await team.manager.post(f"{TASKS}/{queued['id']}/complete", {"formData": {}})).status_code == 200
    await team.manager.wait_status(instance["id"], "COMPLETED")


async def test_fifty_concurrent_claims_one_wins(team: Team) -> None:
    instance, task = await open_task(team)
    responses = await asyncio.gather(*(team.member.post(f"{TASKS}/{task['id']}/claim") for _ in range(50)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 49, [r.text for r in responses if r.status_code not in (200, 409)]
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"Task is already claimed"}
    assert (await team.manager.event_types(instance["id"])).count("USER_TASK_STARTED") == 1


async def test_release_reassign_change_and_comment_are_audited(team: Team) -> None:
    instance, task = await open_task(team)
    path = f"{TASKS}/{task['id']}"
    member_id, other_id = str(team.member.account.user_id), str(team.other.account.user_id)
    assert (await team.member.post(f"{path}/release")).status_code == 409  # not claimed
    assert (await team.member.post(f"{path}/claim")).status_code == 200
    assert (await team.other.post(f"{path}/release")).status_code == 403
    released = await team.member.post(f"{path}/release")
    assert released.status_code == 200, released.text
    assert released.json()["data"]["status"] == "PENDING" and released.json()["data"]["claimedBy"] is None

    # The claimer delegates to a user; the task leaves the queue and lands in that user's inbox.
    assert (await team.member.post(f"{path}/claim")).status_code == 200
    assert (await team.other.post(f"{path}/reassign", {"assignedTo": other_id})).status_code == 403
    assert (await team.member.post(f"{path}/reassign", {})).status_code == 400
    delegated = await team.member.post(f"{path}/reassign", {"assignedTo": other_id})
    assert delegated.status_code == 200, delegated.text
    data = delegated.json()["data"]
    assert (data["assignedTo"], data["assignedToRoles"], data["claimedBy"], data["status"]) == (
        other_id, None, None, "PENDING"
    )  # fmt: skip
    assert [t["id"] for t in await team.other.tasks(myTasks="true")] == [task["id"]]
    assert await team.member.tasks(myTasks="true") == []

    # Only a manager changes due date, priority and candidate roles.
    due = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    assert (
        await team.other.client.patch(path, json={"priority": 90}, headers=team.other.account.headers)
    ).status_code == 403
    changed = await team.manager.client.patch(
        path, json={"priority": 90, "dueDate": due.isoformat(), "assignedToRoles": ["reviewer"]},
        headers=team.manager.account.headers,
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    data = changed.json()["data"]
    assert data["priority"] == 90 and data["assignedToRoles"] == ["reviewer"]
    assert datetime.fromisoformat(data["dueDate"]) == due
    cleared = await team.manager.client.patch(path, json={"dueDate": ""}, headers=team.manager.account.headers)
    assert cleared.json()["data"]["dueDate"] is None and cleared.json()["data"]["priority"] == 90

    assert (await team.foreign.post(f"{path}/comments", {"text": "hi"})).status_code == 404
    commented = await team.other.post(f"{path}/comments", {"text": "Looking at it"})
    assert commented.status_code == 201, commented.text
    thread = (await team.manager.get(f"{path}/comments")).json()["data"]
    assert [(c["author"], c["text"]) for c in thread] == [(other_id, "Looking at it")]

    events = {e["eventType"]: e["eventData"] for e in await team.manager.events(instance["id"])}
    assert events["USER_TASK_RELEASED"]["actor"] == member_id
    assert events["USER_TASK_RELEASED"]["before"]["claimedBy"] == member_id
    assert events["USER_TASK_RELEASED"]["after"]["claimedBy"] is None
    assert events["USER_TASK_REASSIGNED"]["after"]["assignedTo"] == other_id
    assert events["USER_TASK_REASSIGNED"]["before"]["assignedToRoles"] == ["reviewer"]
    assert events["USER_TASK_UPDATED"]["actor"] == str(team.manager.account.user_id)
    assert events["USER_TASK_STARTED"]["after"]["status"] == "IN_PROGRESS"


async def test_my_tasks_filters_and_sorts(team: Team) -> None:
    soon = queue_task(slaDuration="PT1H")
    later = queue_task(slaDuration="P1DT2H")
    workflow_id, first = await team.manager.run(chain("inbox-sort", soon))
    _, second = await team.manager.run(chain("inbox-other", later))
    [a] = await team.manager.wait_task(first["id"])
    [b] = await team.manager.wait_task(second["id"])
    created = datetime.fromisoformat(b["createdAt"])
    assert abs(datetime.fromisoformat(b["dueDate"]) - created - timedelta(hours=26)) < timedelta(seconds=5)

    mine = [t["id"] for t in await team.member.tasks(myTasks="true", sortField="dueDate", sortDir="asc")]
    assert mine == [a["id"], b["id"]]
    assert await team.other.tasks(myTasks="true") == []
    cutoff = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert [t["id"] for t in await team.member.tasks(myTasks="true", dueBefore=cutoff)] == [a["id"]]
    assert [t["id"] for t in await team.member.tasks(myTasks="true", dueAfter=cutoff)] == [b["id"]]
    assert [t["id"] for t in await team.member.tasks(workflowId=workflow_id)] == [a["id"]]

    patched = await team.manager.client.patch(
        f"{TASKS}/{b['id']}", json={"priority": 80}, headers=team.manager.account.headers
    )
    assert patched.status_code == 200
    by_priority = [t["id"] for t in await team.member.tasks(myTasks="true", sortField="priority", sortDir="desc")]
    assert by_priority == [b["id"], a["id"]]
    assert [t["id"] for t in await team.member.tasks(priority=80)] == [b["id"]]
    assert (await team.member.get(TASKS, sortField="nope")).status_code == 400

    # Claimed by someone else: gone from my queue; claimed by me: still mine.
    assert (await team.member.post(f"{TASKS}/{a['id']}/claim")).status_code == 200
    assert {t["id"] for t in await team.member.tasks(myTasks="true")} == {a["id"], b["id"]}
    assert (await team.manager.post(f"{TASKS}/{b['id']}/claim")).status_code == 200
    assert [t["id"] for t in await team.member.tasks(myTasks="true")] == [a["id"]]


FORM = {
    "type": "object",
    "properties": {
        "email": {"type": "string", "format": "email"},
        "amount": {"type": "number", "minimum": 1, "maximum": 100},
        "decision": {"enum": ["approve", "reject"]},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "address": {"type": "object", "properties": {"zip": {"type": "string"}}, "required": ["zip"]},
        "count": {"type": "integer"},
    },
    "required": ["decision", "email"],
}


async def test_bad_form_lists_every_field_and_changes_nothing(team: Team) -> None:
    instance, task = await open_task(team, queue_task(formSchema=FORM))
    path = f"{TASKS}/{task['id']}"
    assert (await team.member.post(f"{path}/claim")).status_code == 200
    bad = {"email": "not-an-email", "amount": 500, "code": "abc", "address": {}, "count": 1.5}
    refused = await team.member.post(f"{path}/complete", {"formData": bad})
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["error"] == "Form validation failed"
    assert [d["path"] for d in body["details"]] == ["address.zip", "amount", "code", "count", "decision", "email"]
    assert all(d["message"] for d in body["details"])
    assert await status_of(team.manager, task["id"]) == "IN_PROGRESS"
    assert (await team.manager.instance(instance["id"]))["status"] == "PAUSED"
    assert "USER_TASK_COMPLETED" not in await team.manager.event_types(instance["id"])

    good = {"email": "a@b.co", "amount": 5, "decision": "approve", "code": "ABC", "address": {"zip": "1"}, "count": 2}
    assert (await team.member.post(f"{path}/complete", {"formData": good})).status_code == 200
    assert (await team.manager.wait_status(instance["id"], "COMPLETED"))["context"]["decision"] == "approve"


async def test_reference_fields_form_is_validated(team: Team, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    fields = {
        "fields": [
            {"name": "approved", "type": "checkbox", "required": True},
            {"name": "level", "type": "select", "options": [{"value": "low"}, {"value": "high"}]},
            {"name": "note", "type": "text", "validation": {"maxLength": 3}},
        ]
    }
    instance, task = await open_task(team, queue_task(formSchema=fields))
    path = f"{TASKS}/{task['id']}"
    await team.manager.wait_status(instance["id"], "PAUSED")
    await team.member.post(f"{path}/claim")
    async with nothing_written(sessionmaker, team.manager.account.tenant_id):
        refused = await team.member.post(f"{path}/complete", {"formData": {"level": "mid", "note": "too long"}})
        assert refused.status_code == 400
        assert [d["path"] for d in refused.json()["details"]] == ["approved", "level", "note"]
    ok = await team.member.post(f"{path}/complete", {"formData": {"approved": True, "level": "low"}})
    assert ok.status_code == 200, ok.text


async def test_complete_is_idempotent_with_a_key(team: Team) -> None:
    instance, task = await open_task(team)
    path = f"{TASKS}/{task['id']}"
    assert (await team.member.post(f"{path}/claim")).status_code == 200
    headers = {**team.member.account.headers, "Idempotency-Key": "k-1"}
    body = {"formData": {"n": 1}}
    first, second = await asyncio.gather(
        team.member.client.post(f"{path}/complete", json=body, headers=headers),
        team.member.client.post(f"{path}/complete", json=body, headers=headers),
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    await team.manager.wait_status(instance["id"], "COMPLETED")
    again = await team.member.client.post(f"{path}/complete", json=body, headers=headers)
    assert again.status_code == 200, again.text
    for answer in (second, again):
        data = answer.json()["data"]
        assert data["status"] == "COMPLETED" and data["formData"] == {"n": 1}
        assert data["completedBy"] == first.json()["data"]["completedBy"]
    other_key = {**team.member.account.headers, "Idempotency-Key": "k-2"}
    assert (await team.member.client.post(f"{path}/complete", json=body, headers=other_key)).status_code == 409
    assert (await team.member.post(f"{path}/complete", body)).status_code == 409
    assert (await team.manager.event_types(instance["id"])).count("USER_TASK_COMPLETED") == 1
