"""Tenant isolation and feature checks over every route, generated from the route table (so a
route added later is covered without writing a test):

- every route whose input names an object (a path parameter, or an `id`-like query or body field
  on a route that acts on one object) is called by an admin of tenant B with the id of tenant A's
  object of that kind: the answer is 404 (a list filtered by it answers 200 without it), A's id never
  appears in the answer, and every row of tenant A is unchanged afterwards;
- every route that requires features answers 403 with `requiredFeatures` to a signed-in user
  holding no feature.

A new route under a known prefix is covered as it is; a route of a new kind fails here until its
kind has a maker in `KINDS`/`make_world`, or an entry in `EXEMPT` saying why it cannot apply.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Any, get_args

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.openapi import _calls, _is_id
from engine.settings import Settings
from tests.conftest import Account, MakeAccount, account_factory
from tests.helpers import tenant_rows
from tests.workflows.conftest import WorkflowApi, shipped

# Path prefix (without /api) -> the kind of object its id names. Longest prefix wins.
KINDS = {
    "/auth/roles": "role",
    "/auth/users": "user",
    "/directory/organizations": "organization",
    "/api_keys/keys": "api_key",
    "/workflows/definitions": "definition",
    "/workflows/instances": "instance",
    "/workflows/events": "event",
    "/workflows/tasks": "task",
    "/business_rules/rules": "rule",
    "/business_rules/execute": "rule",
    "/business_rules/sets": "set",
    "/business_rules/logs": "log",
    "/notifications": "notification",
    "/consumers/admin": "consumer",
    "/wallet/admin/wallets": "wallet",
    "/invite_codes/admin": "invite_code",
    "/scheduler/jobs": "job",
    "/scheduler/trigger": "job",
    "/scheduler/queue-jobs": "run",
}
# Routes (or prefixes) the isolation half cannot apply to, and why.
EXEMPT = {
    "/directory/tenants": "tenants are administered by system super admins, who see every tenant by design",
    "/workflows/instances/validate-start": "names a definition by its workflowId key, not by id (see POST /workflows/instances)",
    "/esims": "an eSIM exists only through the 1Global simulator's provisioning; every eSIM route's cross-tenant"
    " 404 is tested in tests/esims/test_esims_api.py (test_another_tenants_esim_is_404_everywhere)",
    "/notifications/batch": "a batch skips recipients outside the caller's tenant by design and says how many it wrote"
    " (tests/notifications: test_batch_role_and_feature_recipients)",
    "/workflows/signals": "addresses instances by correlation key within the caller's tenant (tested in tests/workflows)",
}
# Fields whose name says what they name, wherever they appear.
FIELD_KINDS = {
    "workflowInstanceId": "instance",
    "roleId": "role",
    "userId": "user",
    "recipientUserId": "user",
    "consumerId": "consumer",
    "workflowId": "definition",
}
# Other required inputs of routes whose models do not show them (raw bodies, manual query reads).
EXTRA_INPUT: dict[str, dict[str, Any]] = {
    "PUT /business_rules/sets/{id}/members": {"json": {"memberId": str(uuid.UUID(int=1))}},
    "DELETE /business_rules/sets/{id}/members": {"params": {"memberId": str(uuid.UUID(int=1))}},
    "POST /wallet/admin/wallets/{id}/transactions": {"json": {"type": "credit", "amountEuroCents": 1, "reason": "x"}},
}
# Headers a route requires besides the credential.
HEADERS: dict[str, dict[str, str]] = {"POST /wallet/admin/wallets/{id}/transactions": {"Idempotency-Key": "isolation"}}
# Raw JSON bodies (validated in the services) whose object id travels in the body.
RAW_BODY_SUBJECT = {
    "PUT /business_rules/rules": "id",
    "PUT /business_rules/sets": "id",
    "DELETE /scheduler/jobs": "id",
}
# Fields that only narrow a list or place a new object: not the object the route acts on.
# (`sourceEntityId` on notifications is free text naming any entity, not an object of ours.)
NOT_SUBJECT = {
    "tenantId",
    "organizationId",
    "parentId",
    "clearRoleIds",
    "roleIds",
    "entityId",
    "toStepId",
    "sourceEntityId",
}


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # without /api
    route: APIRoute
    features: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def _calls_of_app() -> list[Call]:
    found = []
    for context in iter_route_contexts(create_app(Settings(COVO_ENV="test")).routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.path:
            continue
        features = tuple(f for call in _calls(route.dependant) for f in getattr(call, "required_features", []))
        for method in sorted(route.methods or ()):
            found.append(Call(method, context.path.removeprefix("/api"), route, features))
    return found


CALLS = _calls_of_app()


def _kind_of(call: Call) -> str | None:
    subject = _subject(call)
    if subject is not None and subject[0] != "path" and subject[1] in FIELD_KINDS:
        return FIELD_KINDS[subject[1]]
    return _kind(call.path)


def _kind(path: str) -> str | None:
    matches = [prefix for prefix in KINDS if path == prefix or path.startswith(prefix + "/")]
    return KINDS[max(matches, key=len)] if matches else None


def _exempt(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in EXEMPT)


def _body_fields(route: APIRoute) -> dict[str, Any]:
    if route.body_field is None:
        return {}
    annotation = route.body_field.field_info.annotation
    for model in (annotation, *get_args(annotation)):
        fields = getattr(model, "model_fields", None)
        if fields:
            return {field.alias or name: field for name, field in fields.items()}
    return {}


def _subject(call: Call) -> tuple[str, str] | None:
    """Where the route takes the id of the object it acts on: ("path"|"query"|"body", name)."""
    if call.route.dependant.path_params:
        return "path", call.route.dependant.path_params[0].alias
    if call.label in RAW_BODY_SUBJECT:
        return "body", RAW_BODY_SUBJECT[call.label]
    for param in call.route.dependant.query_params:
        if _is_id(param.alias) and param.alias not in NOT_SUBJECT:
            return "query", param.alias
    for name in _body_fields(call.route):
        if _is_id(name) and name not in NOT_SUBJECT:
            return "body", name
    return None


ISOLATED = [c for c in CALLS if _subject(c) is not None and not _exempt(c.path)]
GUARDED = [c for c in CALLS if c.features]


def test_every_route_naming_an_object_has_a_kind() -> None:
    unknown = [c.label for c in ISOLATED if _kind_of(c) is None]
    assert not unknown, f"add these routes' kind to KINDS (and a maker), or to EXEMPT with a reason: {unknown}"
    assert len(ISOLATED) > 40


@dataclass
class World:
    """One object of every kind, in tenant A."""

    owner: Account
    ids: dict[str, str]


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient, make_account_module: MakeAccount) -> World:
    owner = await make_account_module("admin")
    headers = owner.headers

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(f"/api{path}", json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    ids: dict[str, str] = {}
    ids["role"] = (await post("/auth/roles", {"name": f"r-{uuid.uuid4().hex[:6]}"}))["id"]
    ids["user"] = (await post("/auth/users", {"email": f"a-{uuid.uuid4().hex[:8]}@covo.test", "roles": ["employee"]}))[
        "id"
    ]
    ids["organization"] = (await post("/directory/organizations", {"name": "A's organization"}))["id"]
    ids["api_key"] = (await post("/api_keys/keys", {"name": "A's key"}))["id"]

    workflows = WorkflowApi(client, owner)
    definition = await workflows.create(shipped("approval"))
    ids["definition"] = definition["id"]
    instance = await workflows.start(definition["workflowId"], context={"requestId": "r1"})
    ids["instance"] = instance["id"]
    for _ in range(1200):  # the task row is written by the instance's workflow
        tasks = (await workflows.get("/api/workflows/tasks", workflowInstanceId=instance["id"])).json()
        if tasks.get("data") or tasks.get("items"):
            break
        await asyncio.sleep(0.05)
    ids["task"] = (tasks.get("data") or tasks.get("items"))[0]["id"]
    ids["event"] = (await workflows.events(instance["id"]))[0]["id"]

    rule = await post(
        "/business_rules/rules",
        {"ruleId": f"rule-{uuid.uuid4().hex[:6]}", "ruleName": "A", "ruleType": "GUARD", "entityType": "orders.order"},
    )
    ids["rule"] = rule["id"]
    ids["set"] = (await post("/business_rules/sets", {"setId": f"set-{uuid.uuid4().hex[:6]}", "setName": "A"}))["id"]
    await post(f"/business_rules/execute/{ids['rule']}", {"context": {"amount": 1}})
    logs = (await client.get("/api/business_rules/logs", headers=headers)).json()
    ids["log"] = (logs.get("items") or logs.get("data"))[0]["id"]
    consumer = {"email": f"c-{uuid.uuid4().hex[:8]}@covo.test", "password": "correct-horse-battery"}
    ids["consumer"] = (await post("/consumers/admin", consumer))["id"]
    ids["wallet"] = (await post("/wallet/admin/wallets", {"userId": str(owner.user_id)}))["standardId"]
    ids["invite_code"] = (await post("/invite_codes/admin/generate", {"consumerId": ids["consumer"]}))["id"]
    notice = {"type": "isolation", "title": "A", "recipientUserId": str(owner.user_id)}
    ids["notification"] = (await post("/notifications", notice))["id"]
    job = {
        "name": "A's job", "scopeType": "tenant", "scheduleType": "cron", "scheduleValue": "0 3 * * *",
        "targetType": "command", "targetCommand": "scheduler.test.echo", "isEnabled": False,
    }  # fmt: skip
    ids["job"] = (await post("/scheduler/jobs", job))["id"]
    ids["run"] = (await post("/scheduler/trigger", {"id": ids["job"]}))["runId"]
    for _ in range(1200):  # the run finishes in its workflow; a finished run stays as it is
        runs = (await client.get(f"/api/scheduler/jobs/{ids['job']}/executions", headers=headers)).json()
        if runs["items"] and runs["items"][0]["finishedAt"]:
            break
        await asyncio.sleep(0.05)
    return World(owner, ids)


@pytest.fixture(scope="module")
def make_account_module(client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> MakeAccount:
    return account_factory(client, sessionmaker)


@pytest.fixture(scope="module")
async def intruder(make_account_module: MakeAccount) -> Account:
    """An admin of tenant B."""
    return await make_account_module("admin")


def _request(call: Call, subject: tuple[str, str], object_id: str) -> dict[str, Any]:
    where, name = subject
    path = re.sub(r"\{[^}]+\}", object_id, call.path) if where == "path" else call.path
    request: dict[str, Any] = {"method": call.method, "url": f"/api{path}"}
    if where == "query":
        request["params"] = {name: object_id}
    if call.method in ("POST", "PUT", "PATCH", "DELETE") and (where == "body" or call.route.body_field is not None):
        body: dict[str, Any] = {}
        for field_name, field in _body_fields(call.route).items():
            if field.is_required() and field_name != name:
                body[field_name] = _filler(field.annotation)
        if where == "body":
            body[name] = object_id
        request["json"] = body
    elif call.method in ("POST", "PUT") and where == "path":
        request["json"] = {}
    for key, value in EXTRA_INPUT.get(call.label, {}).items():
        request[key] = {**request.get(key, {}), **value}
    return request


def _filler(annotation: Any) -> Any:
    """A valid value of a required field that is not the subject."""
    spelled = str(annotation)
    for marker, value in (("dict", {}), ("list", []), ("bool", True), ("int", 1), ("UUID", str(uuid.UUID(int=1)))):
        if marker in spelled:
            return value
    return "x"


@pytest.mark.parametrize("call", ISOLATED, ids=lambda c: c.label)
async def test_tenant_b_gets_404_for_tenant_as_object_and_nothing_changes(
    client: httpx.AsyncClient,
    world: World,
    intruder: Account,
    sessionmaker: async_sessionmaker[AsyncSession],
    call: Call,
) -> None:
    subject = _subject(call)
    kind = _kind_of(call)
    assert subject is not None and kind is not None
    object_id = world.ids[kind]
    before = await tenant_rows(sessionmaker, world.owner.tenant_id, naming=world.ids.values())
    request = _request(call, subject, object_id)
    response = await client.request(**request, headers={**intruder.headers, **HEADERS.get(call.label, {})})
    if call.method == "GET" and subject[0] == "query":
        # a single object named in the query is 404; a list filtered by it is 200 without it
        assert response.status_code in (200, 404), f"{call.label}: {response.status_code} {response.text}"
    else:
        assert response.status_code == 404, f"{call.label} {request}: {response.status_code} {response.text}"
    # The answer is exactly the one for an id that does not exist: nothing tells A's object apart.
    unknown = str(uuid.uuid4()) if len(object_id) > 8 else "987654321"
    baseline = await client.request(
        **_request(call, subject, unknown), headers={**intruder.headers, **HEADERS.get(call.label, {})}
    )
    assert response.status_code == baseline.status_code, call.label
    answer = response.text.replace(object_id, unknown) if len(object_id) > 8 else response.text
    assert answer == baseline.text, f"{call.label}: {response.text} / {baseline.text}"
    after = await tenant_rows(sessionmaker, world.owner.tenant_id, naming=world.ids.values())
    assert after == before, f"{call.label} changed tenant A's rows"


@pytest.mark.parametrize("call", GUARDED, ids=lambda c: c.label)
async def test_a_user_without_the_feature_gets_403(client: httpx.AsyncClient, nobody: Account, call: Call) -> None:
    path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), call.path)
    response = await client.request(call.method, f"/api{path}", headers=nobody.headers)
    assert response.status_code == 403, f"{call.label}: {response.status_code} {response.text}"
    assert response.json()["requiredFeatures"] == list(call.features)


@pytest.fixture(scope="module")
async def nobody(make_account_module: MakeAccount) -> Account:
    """Signed in, in its own tenant, holding no role and so no feature."""
    return await make_account_module()
