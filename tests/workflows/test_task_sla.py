"""SLAs and escalation of user tasks on durable timers: checked at save, acting in the running
instance, cancelled by completion, surviving a worker restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from engine.settings import Settings
from tests.conftest import Account, MakeAccount
from tests.helpers import nothing_written
from tests.workflows.conftest import WorkflowApi, chain, step
from workers.registry import build_worker

TASKS = "/api/workflows/tasks"


def sla_task(sla: str | None = None, rules: list[dict[str, Any]] | None = None, **config: Any) -> dict[str, Any]:
    user_task: dict[str, Any] = {"assignedTo": ["admin"], **config}
    if sla:
        user_task["slaDuration"] = sla
    if rules:
        user_task["escalationRules"] = rules
    return step("review", "USER_TASK", userTaskConfig=user_task)


async def test_bad_sla_and_escalation_rules_are_refused_at_save_with_their_path(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cases = [
        (sla_task("PT30X"), "definition.steps[1].userTaskConfig.slaDuration"),
        (sla_task("PT1H", [{"trigger": "no_progress", "action": "escalate"}]),
         "definition.steps[1].userTaskConfig.escalationRules[0].after"),
        (sla_task("PT1H", [{"trigger": "no_progress", "action": "escalate", "after": "soon"}]),
         "definition.steps[1].userTaskConfig.escalationRules[0].after"),
        (sla_task(None, [{"trigger": "sla_breach", "action": "escalate"}]),
         "definition.steps[1].userTaskConfig.escalationRules[0]"),
        (sla_task("PT1H", [{"trigger": "sla_breach", "action": "reassign"}]),
         "definition.steps[1].userTaskConfig.escalationRules[0]"),
        (sla_task(formSchema={"type": "object", "properties": {"a": {"type": "strng"}}}),
         "definition.steps[1].userTaskConfig.formSchema"),
    ]  # fmt: skip
    async with nothing_written(sessionmaker, wf.account.tenant_id):
        for user_task, path in cases:
            document = chain(f"bad-sla-{uuid.uuid4().hex[:6]}", user_task)
            response = await wf.post("/api/workflows/definitions", document)
            assert response.status_code == 400, response.text
            assert path in [d["path"] for d in response.json()["details"]], response.json()


async def test_full_iso_durations_set_the_due_date(wf: WorkflowApi) -> None:
    _, instance = await wf.run(chain("sla-iso", sla_task("PT30M")))
    [task] = await wf.wait_task(instance["id"])
    due, created = datetime.fromisoformat(task["dueDate"]), datetime.fromisoformat(task["createdAt"])
    assert 29 * 60 < (due - created).total_seconds() < 31 * 60


async def wait_task_where(wf: WorkflowApi, task_id: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    for _ in range(400):
        task = (await wf.get(f"{TASKS}/{task_id}")).json()["data"]
        if predicate(task):
            return dict(task)
        await asyncio.sleep(0.05)
    raise AssertionError(f"task never matched: {task}")


async def test_no_progress_reassigns_then_sla_breach_escalates(wf: WorkflowApi, make_account: MakeAccount) -> None:
    deputy = await make_account("employee", tenant_id=wf.account.tenant_id)
    rules = [
        {"trigger": "no_progress", "after": "PT1S", "action": "reassign", "escalateTo": str(deputy.user_id)},
        {"trigger": "sla_breach", "action": "escalate"},
        {"trigger": "sla_breach", "action": "notify", "notifyUsers": [str(wf.account.user_id)]},
    ]
    _, instance = await wf.run(chain("sla-escalate", sla_task("PT3S", rules)))
    [task] = await wf.wait_task(instance["id"])
    reassigned = await wait_task_where(wf, task["id"], lambda t: t["assignedTo"] == str(deputy.user_id))
    assert reassigned["status"] == "PENDING" and reassigned["assignedToRoles"] is None and reassigned["escalatedAt"]
    escalated = await wait_task_where(wf, task["id"], lambda t: t["status"] == "ESCALATED")
    assert escalated["priority"] == 75

    events = await wf.events(instance["id"])
    types = [e["eventType"] for e in events]
    assert types.count("USER_TASK_REASSIGNED") == 1 and types.count("USER_TASK_SLA_BREACHED") == 1
    assert types.count("USER_TASK_ESCALATED") == 2
    assert types.index("USER_TASK_REASSIGNED") < types.index("USER_TASK_SLA_BREACHED")
    reassign = next(e["eventData"] for e in events if e["eventType"] == "USER_TASK_REASSIGNED")
    assert reassign["before"]["assignedToRoles"] == ["admin"] and reassign["reason"] == "no_progress"

    # Escalated tasks stay workable: the new assignee claims and completes.
    deputy_api = WorkflowApi(wf.client, deputy)
    assert (await deputy_api.post(f"{TASKS}/{task['id']}/claim")).status_code == 200
    assert (await deputy_api.post(f"{TASKS}/{task['id']}/complete", {"formData": {"ok": True}})).status_code == 200
    assert (await wf.wait_status(instance["id"], "COMPLETED"))["context"]["ok"] is True


async def test_completing_or_cancelling_stops_the_timers(wf: WorkflowApi) -> None:
    rules = [{"trigger": "sla_breach", "action": "escalate"}]
    _, done = await wf.run(chain("sla-done", sla_task("PT2S", rules)))
    _, cancelled = await wf.run(chain("sla-cancel", sla_task("PT2S", rules)))
    [task] = await wf.wait_task(done["id"])
    await wf.wait_task(cancelled["id"])
    assert (await wf.post(f"{TASKS}/{task['id']}/complete", {"formData": {}})).status_code == 200
    assert (await wf.post(f"/api/workflows/instances/{cancelled['id']}/cancel")).status_code == 200
    await wf.wait_status(done["id"], "COMPLETED")
    await asyncio.sleep(3)  # past the SLA
    for instance in (done, cancelled):
        types = await wf.event_types(instance["id"])
        assert "USER_TASK_SLA_BREACHED" not in types and "USER_TASK_ESCALATED" not in types


async def test_sla_timer_survives_a_worker_restart(
    make_client: Callable[..., AsyncIterator[httpx.AsyncClient]],
    make_account: MakeAccount,
    settings: Settings,
    temporal_client: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin: Account,
) -> None:
    own = settings.model_copy(update={"temporal_task_queue": f"sla-restart-{uuid.uuid4().hex[:8]}"})
    async for client in make_client(temporal_task_queue=own.temporal_task_queue):
        api = WorkflowApi(client, admin)
        first = build_worker(temporal_client, own, sessionmaker)
        async with first:
            _, instance = await api.run(
                chain("sla-restart", sla_task("PT2S", [{"trigger": "sla_breach", "action": "escalate"}]))
            )
            [task] = await api.wait_task(instance["id"])
        # No worker while the SLA passes; a new one picks the instance up from its history.
        await asyncio.sleep(2.5)
        assert "USER_TASK_SLA_BREACHED" not in await api.event_types(instance["id"])
        async with build_worker(temporal_client, own, sessionmaker):
            await api.wait_event(instance["id"], "USER_TASK_SLA_BREACHED")
            escalated = await wait_task_where(api, task["id"], lambda t: t["status"] == "ESCALATED")
            assert escalated["priority"] == 75
            assert (await api.post(f"{TASKS}/{task['id']}/complete", {"formData": {}})).status_code == 200
            await api.wait_status(instance["id"], "COMPLETED")


async def test_a_changed_due_date_moves_the_sla(wf: WorkflowApi) -> None:
    rules = [{"trigger": "sla_breach", "action": "escalate"}]
    _, instance = await wf.run(chain("sla-moved", sla_task("P1D", rules)))
    [task] = await wf.wait_task(instance["id"])
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    moved = await wf.client.patch(f"{TASKS}/{task['id']}", json={"dueDate": soon}, headers=wf.account.headers)
    assert moved.status_code == 200, moved.text
    escalated = await wait_task_where(wf, task["id"], lambda t: t["status"] == "ESCALATED")
    assert escalated["priority"] == 75
    assert (await wf.event_types(instance["id"])).count("USER_TASK_SLA_BREACHED") == 1
