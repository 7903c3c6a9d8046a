"""Definition activity types against real endpoints: EMIT_EVENT (domain event outbox + dispatch),
CALL_WEBHOOK (a local HTTP server; the SSRF guard), CALL_API (our API served by uvicorn) and
UPDATE_ENTITY (allow-listed commands run as the initiating user)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from engine.db.models import ApiKey, DomainEventRow, Organization, SideEffectRow, User, UserAcl
from engine.settings import Settings
from engine.workflows.schemas import ActivityRequest
from tests.conftest import Account, MakeAccount
from tests.http_receiver import TinyServer, serving
from tests.workflows.conftest import WorkflowApi
from workers.workflows import commands
from workers.workflows.errors import ActivityConfigError, NonRetryable
from workers.workflows.http import check_url
from workers.workflows.implementations import WorkflowActivities

START = {"stepId": "start", "stepName": "Start", "stepType": "START"}
END = {"stepId": "end", "stepName": "End", "stepType": "END"}


def one_activity(activity: dict[str, Any], workflow_id: str = "activity-test") -> dict[str, Any]:
    """START → END whose transition runs one activity (its output lands in the context under
    its activityName)."""
    return {
        "workflowId": workflow_id,
        "workflowName": "Activity test",
        "definition": {
            "steps": [START, END],
            "transitions": [
                {"transitionId": "go", "fromStepId": "start", "toStepId": "end", "trigger": "auto",
                 "activities": [{"activityId": "act", "activityName": "act", **activity}]},
            ],
        },
    }  # fmt: skip


async def run(wf: WorkflowApi, activity: dict[str, Any], context: dict[str, Any] | None = None) -> dict[str, Any]:
    definition = await wf.create(one_activity(activity))
    started = await wf.start(definition["workflowId"], initialContext=context or {})
    return await wf.wait_status(started["id"], "COMPLETED", "FAILED", timeout=30)


def request(account: Account, activity_type: str, config: dict[str, Any], **overrides: Any) -> ActivityRequest:
    """An activity request as the interpreter sends it, for calling an implementation directly."""
    values: dict[str, Any] = {
        "activity_type": activity_type,
        "activity_name": "act",
        "config": config,
        "idempotency_key": f"test:{uuid.uuid4()}",
        "instance_id": uuid.uuid4(),
        "workflow_id": "direct",
        "tenant_id": account.tenant_id,
        "organization_id": account.organization_id,
        "initiated_by": str(account.user_id),
        **overrides,
    }
    return ActivityRequest(**values)


@pytest.fixture
async def server() -> AsyncIterator[TinyServer]:
    async with serving(TinyServer()) as tiny:
        yield tiny


# ------------------------------------------------------------------ EMIT_EVENT


async def test_emit_event_stores_a_domain_event_and_dispatches_it(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    done = await run(
        wf,
        {"activityType": "EMIT_EVENT",
         "config": {"eventName": "orders.order.shipped", "payload": {"orderId": "{{context.orderId}}"}}},
        {"orderId": 7},
    )  # fmt: skip
    assert done["status"] == "COMPLETED", done
    output = done["context"]["act"]
    assert output["emitted"] is True and output["eventName"] == "orders.order.shipped"
    async with sessionmaker() as session:
        [event] = (await session.scalars(select(DomainEventRow).where(DomainEventRow.tenant_id == wf.account.tenant_id))).all()  # fmt: skip
    assert str(event.id) == output["eventId"]
    assert event.name == "orders.order.shipped"
    assert event.organization_id == wf.account.organization_id
    assert event.payload["orderId"] == 7  # a whole-string placeholder keeps the value's type
    assert event.payload["_workflow"] == {
        "workflowInstanceId": done["id"],
        "workflowId": done["workflowId"],
        "tenantId": str(wf.account.tenant_id),
        "organizationId": str(wf.account.organization_id),
        "initiatedBy": str(wf.account.user_id),
    }
    # The dispatch workflow marks it dispatched.
    dispatched_at = None
    for _ in range(200):
        async with sessionmaker() as session:
            dispatched_at = await session.scalar(
                select(DomainEventRow.dispatched_at).where(DomainEventRow.id == event.id)
            )
        if dispatched_at is not None:
            break
        await asyncio.sleep(0.05)
    assert dispatched_at is not None


# ------------------------------------------------------------------ CALL_WEBHOOK


async def test_call_webhook_posts_json_with_an_idempotency_key(wf: WorkflowApi, server: TinyServer) -> None:
    server.on("/hook", 200, {"accepted": True, "ref": "r-1"})
    done = await run(
        wf,
        {"activityType": "CALL_WEBHOOK",
         "config": {"url": f"{server.url}/hook", "headers": {"X-Custom": "yes"},
                    "body": {"orderId": "{{context.orderId}}", "note": "order {{context.orderId}}"}}},
        {"orderId": 42},
    )  # fmt: skip
    assert done["status"] == "COMPLETED", done
    assert done["context"]["act"] == {
        "status": 200,
        "statusText": "Status200",
        "result": {"accepted": True, "ref": "r-1"},
    }
    [hit] = server.hits_on("/hook")
    assert hit.method == "POST"
    assert json.loads(hit.body) == {"orderId": 42, "note": "order 42"}
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["x-custom"] == "yes"
    assert hit.headers["idempotency-key"].startswith(f"wf:{done['id']}:")


async def test_call_webhook_text_answer_and_get(wf: WorkflowApi, server: TinyServer) -> None:
    server.on("/text", 201, b"created")
    done = await run(wf, {"activityType": "CALL_WEBHOOK", "config": {"url": f"{server.url}/text", "method": "GET"}})
    assert done["status"] == "COMPLETED", done
    assert done["context"]["act"]["status"] == 201
    assert done["context"]["act"]["result"] == "created"
    assert [h.method for h in server.hits_on("/text")] == ["GET"]


async def test_call_webhook_does_not_follow_redirects(wf: WorkflowApi, server: TinyServer) -> None:
    server.on("/moved", 302, b"", {"Location": f"{server.url}/elsewhere"})
    server.on("/elsewhere", 200, {"ok": True})
    done = await run(wf, {"activityType": "CALL_WEBHOOK", "config": {"url": f"{server.url}/moved"}})
    assert done["status"] == "FAILED", done
    assert "redirect" in done["errorMessage"]
    assert len(server.hits_on("/moved")) == 1
    assert server.hits_on("/elsewhere") == []


async def test_call_webhook_4xx_fails_without_retry_5xx_retries(wf: WorkflowApi, server: TinyServer) -> None:
    retry = {"maxAttempts": 3, "initialIntervalMs": 10, "backoffCoefficient": 1}
    server.on("/reject", 422, {"error": "bad order"})
    done = await run(wf, {"activityType": "CALL_WEBHOOK", "retryPolicy": retry,
                          "config": {"url": f"{server.url}/reject"}})  # fmt: skip
    assert done["status"] == "FAILED", done
    assert "Webhook request failed with status 422" in done["errorMessage"]
    assert "bad order" in done["errorMessage"]
    assert len(server.hits_on("/reject")) == 1

    server.on("/broken", 503, b"try later")
    done = await run(wf, {"activityType": "CALL_WEBHOOK", "retryPolicy": retry,
                          "config": {"url": f"{server.url}/broken"}})  # fmt: skip
    assert done["status"] == "FAILED", done
    assert "status 503" in done["errorMessage"]
    assert len(server.hits_on("/broken")) == 3


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://127.1.2.3/x",
        "http://localhost/x",
        "http://api.localhost/x",
        "http://[::1]/x",
        "http://10.0.0.5/x",
        "http://172.16.0.1/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
        "http://[fe80::1]/x",
        "http://0.0.0.0/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://user:secret@8.8.8.8/x",
        "ftp://8.8.8.8/x",
        "file:///etc/passwd",
        "http:///x",
    ],
)
async def test_ssrf_guard_rejects_private_and_odd_targets(url: str) -> None:
    with pytest.raises(ActivityConfigError):
        await check_url(url, allow_private=False)


async def test_ssrf_guard_allows_public_addresses_and_the_explicit_bypass() -> None:
    await check_url("http://8.8.8.8/hook", allow_private=False)
    await check_url("https://[2606:4700:4700::1111]/hook", allow_private=False)
    await check_url("http://127.0.0.1:8080/hook", allow_private=True)
    with pytest.raises(ActivityConfigError, match="credentials"):
        await check_url("http://user:pw@127.0.0.1/hook", allow_private=True)  # never, even when allowed


async def test_call_webhook_refuses_loopback_unless_allowed_and_never_in_production(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    admin: Account,
    server: TinyServer,
) -> None:
    server.on("/hook", 200, {"ok": True})
    config = {"url": f"{server.url}/hook"}
    strict = WorkflowActivities(
        sessionmaker, settings.model_copy(update={"workflows_allow_private_urls": False}), temporal_client
    )
    with pytest.raises(ActivityConfigError, match="private or local"):
        await strict.call_webhook(request(admin, "CALL_WEBHOOK", config))
    production = WorkflowActivities(
        sessionmaker, settings.model_copy(update={"environment": "production"}), temporal_client
    )
    assert production.settings.workflows_allow_private_urls is True
    with pytest.raises(ActivityConfigError):
        await production.call_webhook(request(admin, "CALL_WEBHOOK", config))
    assert server.hits == []
    allowed = WorkflowActivities(sessionmaker, settings, temporal_client)
    assert (await allowed.call_webhook(request(admin, "CALL_WEBHOOK", config)))["status"] == 200


# ------------------------------------------------------------------ CALL_API


@pytest.fixture
async def api_server(settings: Settings) -> AsyncIterator[str]:
    """The real API, served by uvicorn in this event loop where the worker's CALL_API activities
    look for it (settings.internal_api_url)."""
    assert settings.internal_api_url
    port = int(settings.internal_api_url.rsplit(":", 1)[1])
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    for _ in range(200):
        if served.started:
            break
        await asyncio.sleep(0.05)
    assert served.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        await task


async def test_call_api_calls_our_api_with_a_short_lived_key_carrying_the_initiators_roles(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    make_account: MakeAccount,
    api_server: str,
) -> None:
    admin = await make_account("admin")
    activities = WorkflowActivities(
        sessionmaker, settings.model_copy(update={"internal_api_url": api_server}), temporal_client
    )
    call = request(admin, "CALL_API", {"endpoint": "/api/auth/users", "method": "GET"})
    output = await activities.call_api(call)
    assert output["status"] == 200 and output["authenticated"] is True
    assert admin.email in [u["email"] for u in output["body"]["items"]]
    async with sessionmaker() as session:
        [key] = (await session.scalars(select(ApiKey).where(ApiKey.name == f"workflow {call.instance_id}"))).all()
    assert key.tenant_id == admin.tenant_id
    assert key.deleted_at is not None  # revoked as soon as the call returned
    assert key.expires_at is not None

    # The key carries the initiator's roles only: an employee cannot create users.
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    with pytest.raises(NonRetryable, match="status 403"):
        await activities.call_api(request(employee, "CALL_API", {
            "endpoint": "/api/auth/users", "method": "POST", "body": {"email": "x@covo.test", "password": "x" * 12}}))  # fmt: skip
    # A 4xx is not retried (NonRetryable); an absolute URL of our own API is fine.
    with pytest.raises(NonRetryable, match="status 404"):
        await activities.call_api(request(admin, "CALL_API", {"endpoint": f"{api_server}/api/no-such-endpoint"}))


async def test_a_workflow_calls_our_api_as_its_initiator(api_server: str, wf: WorkflowApi) -> None:
    call = {
        "activityId": "users",
        "activityName": "users",
        "activityType": "CALL_API",
        "config": {"endpoint": "/api/auth/users?pageSize=5", "method": "GET"},
    }
    document = {
        "workflowId": "call-api",
        "workflowName": "Call API",
        "definition": {
            "steps": [
                {"stepId": "start", "stepName": "Start", "stepType": "START"},
                {"stepId": "end", "stepName": "End", "stepType": "END"},
            ],
            "transitions": [{"transitionId": "go", "fromStepId": "start", "toStepId": "end", "activities": [call]}],
        },
    }
    definition = await wf.create(document)
    instance = await wf.start(definition["workflowId"])
    done = await wf.wait_status(instance["id"], "COMPLETED", "FAILED")
    assert done["status"] == "COMPLETED", done
    output = done["context"]["users"]
    assert output["status"] == 200 and output["authenticated"] is True
    assert [u["email"] for u in output["body"]["items"]] == [wf.account.email]


async def test_call_api_refuses_other_targets_and_missing_initiators(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], temporal_client: Client, admin: Account
) -> None:
    activities = WorkflowActivities(
        sessionmaker, settings.model_copy(update={"internal_api_url": "http://127.0.0.1:1"}), temporal_client
    )
    for endpoint in ("/health", "/internal/x", "http://evil.test/api/auth/users", "http://127.0.0.1:2/api/x"):
        with pytest.raises(ActivityConfigError):
            await activities.call_api(request(admin, "CALL_API", {"endpoint": endpoint}))
    for initiator in (None, "trigger:on-order"):
        with pytest.raises(ActivityConfigError, match="initiating user"):
            await activities.call_api(
                request(admin, "CALL_API", {"endpoint": "/api/auth/users"}, initiated_by=initiator)
            )


# ------------------------------------------------------------------ UPDATE_ENTITY


def rename(org_id: str, name: str) -> dict[str, Any]:
    return {
        "activityType": "UPDATE_ENTITY",
        "config": {"commandId": "directory.organizations.rename", "input": {"organizationId": org_id, "name": name}},
    }


async def org_name(sessionmaker: async_sessionmaker[AsyncSession], org_id: uuid.UUID) -> str:
    async with sessionmaker() as session:
        org = await session.get(Organization, org_id)
        assert org is not None
        return org.name


async def test_update_entity_renames_an_organization_for_an_admin(
    wf: WorkflowApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    org_id = wf.account.organization_id
    done = await run(
        wf, rename("{{context.orgId}}", "Renamed {{context.suffix}}"), {"orgId": str(org_id), "suffix": "HQ"}
    )
    assert done["status"] == "COMPLETED", done
    assert done["context"]["act"] == {
        "executed": True,
        "commandId": "directory.organizations.rename",
        "result": {"organizationId": str(org_id), "name": "Renamed HQ", "previousName": "Main"},
    }
    assert await org_name(sessionmaker, org_id) == "Renamed HQ"
    response = await wf.client.get("/api/directory/organizations", headers=wf.account.headers)
    assert "Renamed HQ" in response.text


async def test_update_entity_fails_when_the_initiator_lacks_the_feature(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # An employee who may run workflows, but not manage organizations.
    employee = await make_account("employee", tenant_id=admin.tenant_id)
    async with sessionmaker() as session, session.begin():
        session.add(UserAcl(user_id=employee.user_id, features=["workflows.*", "directory.organizations.view"]))
    definition = await WorkflowApi(client, admin).create(one_activity(rename(str(admin.organization_id), "Hijacked")))
    as_employee = WorkflowApi(client, employee)
    started = await as_employee.start(definition["workflowId"])
    done = await as_employee.wait_status(started["id"], "COMPLETED", "FAILED")
    assert done["status"] == "FAILED", done
    assert "not authorized" in done["errorMessage"]
    assert "directory.organizations.manage" in done["errorMessage"]
    assert await org_name(sessionmaker, admin.organization_id) == "Main"


async def test_update_entity_refuses_unknown_commands(wf: WorkflowApi) -> None:
    done = await run(wf, {"activityType": "UPDATE_ENTITY", "config": {"commandId": "sql.execute", "input": {}}})
    assert done["status"] == "FAILED", done
    assert "UPDATE_ENTITY command is not allowed: sql.execute" in done["errorMessage"]


async def test_update_entity_runs_once_per_key_and_needs_a_real_user_of_the_tenant(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    make_account: MakeAccount,
) -> None:
    admin = await make_account("admin")
    activities = WorkflowActivities(sessionmaker, settings, temporal_client)
    target = await make_account("employee", tenant_id=admin.tenant_id)
    config = {"commandId": "auth.users.set_name", "input": {"userId": str(target.user_id), "name": "Ann"}}
    first = request(admin, "UPDATE_ENTITY", config)
    output = await activities.update_entity(first)
    assert output["result"] == {"userId": str(target.user_id), "name": "Ann", "previousName": None}
    # A retry with the same key (even with other input) does not apply anything again.
    changed = first.model_copy(update={"config": {**config, "input": {"userId": str(target.user_id), "name": "Bob"}}})
    assert await activities.update_entity(changed) == output
    async with sessionmaker() as session:
        user = await session.get(User, target.user_id)
        assert user is not None and user.name == "Ann"
        ledger = await session.get(SideEffectRow, first.idempotency_key)
        assert ledger is not None and ledger.kind == "UPDATE_ENTITY"

    for initiator in (None, "trigger:on-order", str(uuid.uuid4())):
        with pytest.raises(ActivityConfigError, match="requires an authenticated workflow user"):
            await activities.update_entity(request(admin, "UPDATE_ENTITY", config, initiated_by=initiator))
    # An admin of another tenant is not a user of this instance's tenant.
    stranger = await make_account("admin")
    with pytest.raises(ActivityConfigError, match="requires an authenticated workflow user"):
        await activities.update_entity(request(admin, "UPDATE_ENTITY", config, initiated_by=str(stranger.user_id)))
    # Commands stay inside the instance's tenant.
    with pytest.raises(ActivityConfigError, match="User not found"):
        await activities.update_entity(
            request(admin, "UPDATE_ENTITY", {**config, "input": {"userId": str(stranger.user_id), "name": "X"}})
        )
    with pytest.raises(ActivityConfigError, match="must be a non-empty string"):
        await activities.update_entity(
            request(admin, "UPDATE_ENTITY", {**config, "input": {"userId": str(target.user_id), "name": " "}})
        )
    with pytest.raises(ActivityConfigError, match='"input" object'):
        await activities.update_entity(request(admin, "UPDATE_ENTITY", {"commandId": "auth.users.set_name"}))


def test_command_registry_declares_required_features() -> None:
    assert commands.COMMANDS["directory.organizations.rename"].required_features == ("directory.organizations.manage",)
    assert commands.COMMANDS["auth.users.set_name"].required_features == ("auth.users.edit",)
