"""Notifications through HTTP: sending (user, batch, role, feature), a user's own list, unread
count, read / dismiss / restore / act, settings (off, e-mail), and the rows user tasks cause."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Account, MakeAccount
from tests.helpers import nothing_written
from tests.rules.api_helpers import RulesApi, key
from tests.workflows.conftest import WorkflowApi, chain, step

N = "/api/notifications"


async def send(client: httpx.AsyncClient, sender: Account, path: str = N, **body: Any) -> httpx.Response:
    return await client.post(path, json={"type": "memo", "title": "Hello", **body}, headers=sender.headers)


async def mine(client: httpx.AsyncClient, user: Account, **params: Any) -> dict[str, Any]:
    response = await client.get(N, params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def unread(client: httpx.AsyncClient, user: Account) -> int:
    response = await client.get(f"{N}/unread-count", headers=user.headers)
    assert response.status_code == 200, response.text
    return int(response.json()["unreadCount"])


async def test_a_user_sees_only_their_own(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    alice = await make_account("employee", tenant_id=admin.tenant_id)
    bob = await make_account("employee", tenant_id=admin.tenant_id)
    foreign = await make_account("admin")
    actions = [{"id": "open", "label": "Open", "href": "/inbox"}]
    created = await send(client, admin, recipientUserId=str(alice.user_id), severity="warning", actions=actions)
    assert created.status_code == 201, created.text
    note_id = created.json()["id"]

    page = await mine(client, alice)
    assert page["total"] == 1 and page["page"] == 1
    [note] = page["items"]
    assert (note["id"], note["type"], note["title"], note["severity"], note["status"]) == (
        note_id, "memo", "Hello", "warning", "unread"
    )  # fmt: skip
    assert note["actions"] == actions
    assert (await mine(client, bob))["total"] == 0
    async with nothing_written(sessionmaker, admin.tenant_id), nothing_written(sessionmaker, foreign.tenant_id):
        for outsider in (bob, foreign):
            assert (await client.put(f"{N}/{note_id}/read", headers=outsider.headers)).status_code == 404
        # Another tenant cannot address our users.
        assert (await send(client, foreign, recipientUserId=str(alice.user_id))).status_code == 404
        # Sending needs notifications.create.
        assert (await send(client, bob, recipientUserId=str(alice.user_id))).status_code == 403

    assert await unread(client, alice) == 1
    assert (await client.put(f"{N}/{note_id}/read", headers=alice.headers)).status_code == 200
    assert await unread(client, alice) == 0
    assert (await mine(client, alice, status="read"))["total"] == 1
    assert (await client.put(f"{N}/{note_id}/dismiss", headers=alice.headers)).status_code == 200
    assert (await mine(client, alice))["total"] == 0
    assert (await mine(client, alice, status="dismissed"))["total"] == 1
    assert (await client.put(f"{N}/{note_id}/restore", headers=alice.headers)).status_code == 200
    assert (await mine(client, alice))["items"][0]["status"] == "read"

    async with nothing_written(sessionmaker, admin.tenant_id):
        refused = await client.post(f"{N}/{note_id}/action", json={"actionId": "nope"}, headers=alice.headers)
        assert refused.status_code == 400
    acted = await client.post(f"{N}/{note_id}/action", json={"actionId": "open"}, headers=alice.headers)
    assert acted.status_code == 201 and acted.json() == {"ok": True, "actionTaken": "open", "href": "/inbox"}
    assert (await mine(client, alice))["items"][0]["actionTaken"] == "open"

    for _ in range(2):
        await send(client, admin, recipientUserId=str(alice.user_id))
    assert await unread(client, alice) == 2
    marked = await client.put(f"{N}/mark-all-read", headers=alice.headers)
    assert marked.status_code == 200 and marked.json()["count"] == 2
    assert await unread(client, alice) == 0
    assert (await mine(client, alice, type="memo", pageSize=1))["totalPages"] == 3


async def test_batch_role_and_feature_recipients(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    alice = await make_account("employee", tenant_id=admin.tenant_id)
    bob = await make_account("employee", tenant_id=admin.tenant_id)
    other_admin = await make_account("admin", tenant_id=admin.tenant_id)
    foreign = await make_account("admin")

    batch = await send(client, admin, f"{N}/batch", recipientUserIds=[str(alice.user_id), str(foreign.user_id)])
    assert batch.status_code == 201 and batch.json()["count"] == 1  # the other tenant's user is skipped
    role = await send(client, admin, f"{N}/role", roleName="employee", type="role-memo")
    assert role.status_code == 201 and role.json()["count"] == 2
    holders = await send(client, admin, f"{N}/feature", requiredFeature="workflows.tasks.manage", type="managers")
    assert holders.status_code == 201 and holders.json()["count"] == 2  # the two admins
    assert (await mine(client, bob, type="role-memo"))["total"] == 1
    assert (await mine(client, other_admin, type="managers"))["total"] == 1
    assert (await mine(client, alice, type="managers"))["total"] == 0
    assert (await mine(client, foreign))["total"] == 0


async def test_settings_turn_kinds_off_and_on_email(
    client: httpx.AsyncClient,
    admin: Account,
    make_account: MakeAccount,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    alice = await make_account("employee", tenant_id=admin.tenant_id)
    assert (await client.get(f"{N}/settings", headers=alice.headers)).json() == {"disabledTypes": [], "emailTypes": []}
    saved = await client.post(
        f"{N}/settings", json={"disabledTypes": ["noise"], "emailTypes": ["urgent"]}, headers=alice.headers
    )
    assert saved.status_code == 201, saved.text
    assert (await client.get(f"{N}/settings", headers=alice.headers)).json()["emailTypes"] == ["urgent"]

    assert (await send(client, admin, recipientUserId=str(alice.user_id), type="noise")).status_code == 400
    assert (await mine(client, alice))["total"] == 0
    urgent = await send(client, admin, recipientUserId=str(alice.user_id), type="urgent", title="Fire")
    assert urgent.status_code == 201
    async with sessionmaker() as session:
        subjects = (
            (await session.execute(text("SELECT subject FROM mail_outbox WHERE recipient = :r"), {"r": alice.email}))
            .scalars()
            .all()
        )
    assert subjects == ["Fire"]


async def test_user_tasks_notify_assignees_and_escalations(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    wf = WorkflowApi(client, admin)
    alice = await make_account("employee", tenant_id=wf.account.tenant_id)
    rules = [
        {"trigger": "sla_breach", "action": "notify", "notifyUsers": [str(wf.account.user_id)]},
        {"trigger": "sla_breach", "action": "escalate"},
    ]
    config = {"assignedTo": str(alice.user_id), "slaDuration": "PT1S", "escalationRules": rules}
    _, instance = await wf.run(
        chain(f"notify-{uuid.uuid4().hex[:4]}", step("review", "USER_TASK", userTaskConfig=config))
    )
    [task] = await wf.wait_task(instance["id"])
    await wf.wait_event(instance["id"], "USER_TASK_SLA_BREACHED")

    kinds = {n["type"] for n in (await mine(wf.client, alice))["items"]}
    assert {"task.assigned", "task.sla_breached", "task.escalated"} <= kinds
    [assigned] = (await mine(wf.client, alice, type="task.assigned"))["items"]
    assert assigned["sourceEntityId"] == task["id"] and assigned["linkHref"] == f"/inbox?task={task['id']}"
    assert [n["type"] for n in (await mine(wf.client, wf.account))["items"]] == ["task.escalated"]

    # Her notification's "claim" action claims the task; then the manager takes it over: she is told.
    assert [a["id"] for a in assigned["actions"]] == ["open", "claim"]
    claim = await wf.client.post(f"{N}/{assigned['id']}/action", json={"actionId": "claim"}, headers=alice.headers)
    assert claim.status_code == 201, claim.text
    assert (await wf.get(f"/api/workflows/tasks/{task['id']}")).json()["data"]["claimedBy"] == str(alice.user_id)
    assert (await wf.post(f"/api/workflows/tasks/{task['id']}/release")).status_code == 200
    assert (await wf.post(f"/api/workflows/tasks/{task['id']}/claim")).status_code == 200
    # (the claim is answered after the workflow wrote its rows, the notification among them)
    assert (await mine(wf.client, alice, type="task.claimed"))["total"] == 1


async def test_rule_notify_reaches_the_users_it_names(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    alice = await make_account("employee", tenant_id=admin.tenant_id)
    rules = RulesApi(client, admin)
    entity = key("entity")
    notify = {"type": "NOTIFY", "config": {"recipients": [alice.email, "admin", "nobody@elsewhere.test"],
                                           "subject": "Order {{data.id}}", "message": "Check order {{data.id}}"}}  # fmt: skip
    await rules.create_rule(entityType=entity, ruleType="ACTION", successActions=[notify])
    await rules.execute(entityType=entity, entityId="o-1", data={"id": 9})
    [note] = (await mine(client, alice, type="rule.notify"))["items"]
    assert (note["title"], note["body"], note["sourceEntityId"]) == ("Order 9", "Check order 9", "o-1")
    assert (await mine(client, admin, type="rule.notify"))["total"] == 1  # through the admin role
