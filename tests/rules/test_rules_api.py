"""Business rules over HTTP: the reference scenarios TC-BR-001…011 (reference §6.3, adapted where
this service differs: duplicates are 409, conditions may be JsonLogic), plus conflicts, locking,
tenancy and permissions."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.db.models import RuleExecutionLogRow
from tests.conftest import Account, MakeAccount
from tests.helpers import create_organization, nothing_written
from tests.rules.api_helpers import RulesApi, key

TREE = {
    "operator": "AND",
    "rules": [
        {"field": "status", "operator": "=", "value": "ACTIVE"},
        {"field": "amount", "operator": ">=", "value": 100},
    ],
}


@pytest.fixture
def api(client: httpx.AsyncClient, admin: Account) -> RulesApi:
    return RulesApi(client, admin)


async def _log_rows(sessionmaker: async_sessionmaker[AsyncSession], rule_uuid: str) -> int:
    async with sessionmaker() as session:
        total = await session.scalar(
            select(func.count())
            .select_from(RuleExecutionLogRow)
            .where(RuleExecutionLogRow.rule_id == uuid.UUID(rule_uuid))
        )
    return int(total or 0)


# ---------------------------------------------------------------- TC-BR-001 rule sets


async def test_tc_br_001_rule_set_crud(api: RulesApi) -> None:
    created = await api.create_set(description="Checks before shipping")
    detail = (await api.request("GET", f"/sets/{created['id']}")).json()
    assert detail["setId"] == created["setId"] and detail["setName"] == "A set"
    assert detail["enabled"] is True and detail["members"] == []
    assert detail["tenantId"] == str(api.account.tenant_id)
    assert detail["organizationId"] == str(api.account.organization_id)
    assert detail["createdBy"] == str(api.account.user_id)

    listed = (await api.request("GET", "/sets", params={"id": created["id"]})).json()
    assert listed["total"] == 1 and listed["totalPages"] == 1
    assert listed["items"][0]["setId"] == created["setId"]
    by_key = (await api.request("GET", "/sets", params={"setId": created["setId"][4:]})).json()
    assert [i["id"] for i in by_key["items"]] == [created["id"]]

    updated = await api.request("PUT", "/sets", json={"id": created["id"], "setName": "Renamed", "enabled": False})
    assert updated.status_code == 200 and updated.json() == {"ok": True}
    detail = (await api.request("GET", f"/sets/{created['id']}")).json()
    assert detail["setName"] == "Renamed" and detail["enabled"] is False
    assert detail["description"] == "Checks before shipping"  # untouched by a partial update

    assert (await api.request("DELETE", "/sets", params={"id": created["id"]})).json() == {"ok": True}
    assert (await api.request("GET", f"/sets/{created['id']}")).status_code == 404
    assert (await api.request("GET", "/sets", params={"id": created["id"]})).json()["total"] == 0
    assert (await api.request("DELETE", "/sets", params={"id": created["id"]})).status_code == 404


async def test_rule_set_errors(api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with nothing_written(sessionmaker, api.account.tenant_id):
        assert (await api.request("PUT", "/sets", json={"setName": "x"})).json() == {"error": "Rule set id is required"}
        assert (await api.request("GET", "/sets/not-a-uuid")).status_code == 400
        missing = await api.request("PUT", "/sets", json={"id": str(uuid.uuid4()), "setName": "x"})
        assert missing.status_code == 404 and missing.json() == {"error": "Rule set not found"}
        assert (await api.request("DELETE", "/sets")).status_code == 400
        bad = await api.request("POST", "/sets", json={"setId": "", "setName": "x"})
        assert bad.status_code == 400 and bad.json()["error"].startswith("Validation failed: setId")


# ---------------------------------------------------------------- TC-BR-002 rules


async def test_tc_br_002_rule_crud_round_trips_every_field(api: RulesApi) -> None:
    fields = {
        "ruleName": "High value active orders",
        "description": "Blocks shipping of big orders until reviewed",
        "ruleType": "VALIDATION",
        "ruleCategory": "risk",
        "entityType": "orders.order",
        "eventType": "beforeSave",
        "conditionExpression": TREE,
        "successActions": [{"type": "LOG", "config": {"message": "ok {{data.amount}}", "level": "info"}}],
        "failureActions": [{"type": "SHOW_ERROR", "config": {"message": "Amount {{data.amount}} too low"}}],
        "enabled": True,
        "priority": 250,
        "version": 3,
        "effectiveFrom": "2020-01-01T00:00:00+00:00",
        "effectiveTo": "2099-12-31T00:00:00+00:00",
        "tenantId": str(uuid.uuid4()),  # ignored: comes from the caller
        "organizationId": str(uuid.uuid4()),
        "createdBy": "someone-else",
    }
    created = await api.create_rule(**fields)
    rule = await api.rule(created["id"])
    for name in (
        "ruleName",
        "description",
        "ruleType",
        "ruleCategory",
        "entityType",
        "eventType",
        "priority",
        "version",
    ):
        assert rule[name] == fields[name], name
    assert rule["conditionExpression"] == TREE  # as given
    assert rule["conditionDialect"] == "condition_tree"
    assert rule["conditionLogic"]["and"][0] == {"equals": [{"var": "status"}, "ACTIVE"]}
    assert rule["successActions"] == fields["successActions"]
    assert rule["failureActions"] == fields["failureActions"]
    assert datetime.fromisoformat(rule["effectiveFrom"]) == datetime(2020, 1, 1, tzinfo=UTC)
    assert rule["tenantId"] == str(api.account.tenant_id)
    assert rule["organizationId"] == str(api.account.organization_id)
    assert rule["createdBy"] == str(api.account.user_id) == rule["updatedBy"]

    listed = (await api.request("GET", "/rules", params={"ruleId": created["ruleId"]})).json()
    assert listed["total"] == 1
    item = listed["items"][0]
    assert set(item) == {
        "id", "ruleId", "ruleName", "description", "ruleType", "ruleCategory", "entityType", "eventType",
        "enabled", "priority", "version", "effectiveFrom", "effectiveTo", "tenantId", "organizationId",
        "createdAt", "updatedAt",
    }  # fmt: skip

    changed = await api.request(
        "PUT",
        "/rules",
        json={"id": created["id"], "ruleName": "Renamed", "conditionExpression": {">": [{"var": "amount"}, 5]}},
    )
    assert changed.status_code == 200 and changed.json() == {"ok": True}
    rule = await api.rule(created["id"])
    assert rule["ruleName"] == "Renamed" and rule["priority"] == 250  # partial
    assert rule["conditionDialect"] == "jsonlogic" and rule["conditionLogic"] == {">": [{"var": "amount"}, 5]}

    assert (await api.request("DELETE", "/rules", params={"id": created["id"]})).json() == {"ok": True}
    assert (await api.request("GET", f"/rules/{created['id']}")).status_code == 404
    assert (await api.request("GET", "/rules", params={"ruleId": created["ruleId"]})).json()["total"] == 0


async def test_rule_list_filters_sorting_and_paging(api: RulesApi) -> None:
    entity = key("entity")
    a = await api.create_rule(entityType=entity, priority=10, ruleName="alpha check", ruleType="GUARD")
    b = await api.create_rule(entityType=entity, priority=900, ruleName="beta check", ruleType="ACTION")
    c = await api.create_rule(entityType=entity, priority=500, ruleName="gamma", enabled=False, ruleCategory="x")

    async def ids(**params: Any) -> list[str]:
        response = await api.request("GET", "/rules", params={"entityType": entity, **params})
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert await ids() == [b["id"], c["id"], a["id"]]  # priority desc by default
    assert await ids(sortField="priority", sortDir="asc") == [a["id"], c["id"], b["id"]]
    assert await ids(sortField="ruleName", sortDir="asc") == [a["id"], b["id"], c["id"]]
    assert await ids(enabled="false") == [c["id"]]
    assert await ids(enabled="true") == [b["id"], a["id"]]
    assert await ids(ruleType="ACTION") == [b["id"]]
    assert await ids(search="CHECK") == [b["id"], a["id"]]
    assert await ids(ruleCategory="x") == [c["id"]]
    page = (await api.request("GET", "/rules", params={"entityType": entity, "pageSize": 2, "page": 2})).json()
    assert page["total"] == 3 and page["totalPages"] == 2 and [i["id"] for i in page["items"]] == [a["id"]]
    empty = (await api.request("GET", "/rules", params={"entityType": key("none")})).json()
    assert empty == {"items": [], "total": 0, "totalPages": 1}
    assert (await api.request("GET", "/rules", params={"pageSize": 101})).status_code == 400
    assert (await api.request("GET", "/rules", params={"sortField": "nope"})).status_code == 400


async def test_duplicate_rule_and_set_keys_are_409_and_reusable_after_delete(
    api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    rule, other, rule_set = await api.create_rule(), await api.create_rule(), await api.create_set()
    async with nothing_written(sessionmaker, api.account.tenant_id):
        again = await api.request(
            "POST", "/rules", json={"ruleId": rule["ruleId"], "ruleName": "x", "ruleType": "GUARD", "entityType": "e"}
        )
        assert again.status_code == 409 and "already exists" in again.json()["error"]
        clash = await api.request("PUT", "/rules", json={"id": other["id"], "ruleId": rule["ruleId"]})
        assert clash.status_code == 409
        dup = await api.request("POST", "/sets", json={"setId": rule_set["setId"], "setName": "x"})
        assert dup.status_code == 409

    await api.request("DELETE", "/rules", params={"id": rule["id"]})
    await api.create_rule(ruleId=rule["ruleId"])  # soft-deleted keys are free again


async def test_rule_validation_errors(api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    rule = await api.create_rule()

    async def error(body: dict[str, Any]) -> str:
        full = {"ruleId": key(), "ruleName": "x", "ruleType": "GUARD", "entityType": "e", **body}
        response = await api.request("POST", "/rules", json=full)
        assert response.status_code == 400, response.text
        return str(response.json()["error"])

    async with nothing_written(sessionmaker, api.account.tenant_id):
        assert (await error({"ruleType": "NOPE"})).startswith("Validation failed: ruleType")
        assert "Effective To must be later than Effective From" in await error(
            {"effectiveFrom": "2030-01-01T00:00:00Z", "effectiveTo": "2029-01-01T00:00:00Z"}
        )
        assert "priority" in await error({"priority": 10_000})
        assert "conditionExpression" in await error({"conditionExpression": {"nope": [1]}})  # unknown operator
        assert "conditionExpression" in await error(
            {"conditionExpression": {"field": "a", "operator": "LIKE", "value": 1}}
        )
        assert "successActions.0.config.recipients" in await error(
            {"successActions": [{"type": "NOTIFY", "config": {"message": "hi"}}]}
        )
        assert "failureActions.0.config.url" in await error(
            {"failureActions": [{"type": "CALL_WEBHOOK", "config": {}}]}
        )
        assert "ruleName" in await error({"ruleName": ""})
        missing_id = await api.request("PUT", "/rules", json={"ruleName": "x"})
        assert missing_id.status_code == 400 and missing_id.json() == {"error": "Rule id is required"}
        nulled = await api.request("PUT", "/rules", json={"id": rule["id"], "ruleName": None})
        assert nulled.status_code == 400
        assert (await api.request("GET", "/rules/not-a-uuid")).json() == {"error": "Invalid rule id"}
        unknown = await api.request("PUT", "/rules", json={"id": str(uuid.uuid4()), "ruleName": "x"})
        assert unknown.status_code == 404 and unknown.json() == {"error": "Rule not found"}


# ---------------------------------------------------------------- TC-BR-003 members


async def test_tc_br_003_members_add_reorder_update_remove(api: RulesApi, make_account: MakeAccount) -> None:
    rule_set = await api.create_set()
    first = await api.create_rule(ruleType="VALIDATION")
    second = await api.create_rule(ruleType="ACTION")
    m1 = await api.request("POST", f"/sets/{rule_set['id']}/members", json={"ruleId": first["id"], "sequence": 10})
    m2 = await api.request("POST", f"/sets/{rule_set['id']}/members", json={"ruleId": second["id"], "sequence": 20})
    assert m1.status_code == m2.status_code == 201
    dup = await api.request("POST", f"/sets/{rule_set['id']}/members", json={"ruleId": first["id"]})
    assert dup.status_code == 409 and dup.json() == {"error": "Rule is already a member of this set"}

    members = (await api.request("GET", f"/sets/{rule_set['id']}")).json()["members"]
    assert [m["ruleId"] for m in members] == [first["id"], second["id"]]
    assert members[0] == {
        "id": m1.json()["id"], "ruleId": first["id"], "ruleKey": first["ruleId"], "ruleName": "A rule",
        "ruleType": "VALIDATION", "sequence": 10, "enabled": True,
    }  # fmt: skip

    reorder = await api.request(
        "PUT", f"/sets/{rule_set['id']}/members", json={"memberId": m1.json()["id"], "sequence": 30, "enabled": False}
    )
    assert reorder.json() == {"ok": True}
    members = (await api.request("GET", f"/sets/{rule_set['id']}")).json()["members"]
    assert [(m["ruleId"], m["sequence"], m["enabled"]) for m in members] == [
        (second["id"], 20, True),
        (first["id"], 30, False),
    ]

    removed = await api.request("DELETE", f"/sets/{rule_set['id']}/members", params={"memberId": m2.json()["id"]})
    assert removed.json() == {"ok": True}
    assert [m["ruleId"] for m in (await api.request("GET", f"/sets/{rule_set['id']}")).json()["members"]] == [
        first["id"]
    ]
    again = await api.request("DELETE", f"/sets/{rule_set['id']}/members", params={"memberId": m2.json()["id"]})
    assert again.status_code == 404 and again.json() == {"error": "Member not found"}
    assert (await api.request("DELETE", f"/sets/{rule_set['id']}/members")).status_code == 400
    gone = await api.request("PUT", f"/sets/{rule_set['id']}/members", json={"memberId": str(uuid.uuid4())})
    assert gone.status_code == 404

    # A rule of another tenant cannot be added; nor to an unknown set.
    stranger = RulesApi(api.client, await make_account("admin"))
    foreign = await stranger.create_rule()
    assert (await api.request("POST", f"/sets/{rule_set['id']}/members", json={"ruleId": foreign["id"]})).json() == {
        "error": "Rule not found"
    }
    unknown_set = await api.request("POST", f"/sets/{uuid.uuid4()}/members", json={"ruleId": first["id"]})
    assert unknown_set.status_code == 404 and unknown_set.json() == {"error": "Rule set not found"}


# ---------------------------------------------------------------- TC-BR-004 execution and logs


async def test_tc_br_004_execute_by_context_and_by_uuid_then_logs(api: RulesApi) -> None:
    entity = key("entity")
    rule = await api.create_rule(entityType=entity, eventType="beforeSave", conditionExpression=TREE)
    data = {"status": "ACTIVE", "amount": 150}

    result = await api.execute(entityType=entity, eventType="beforeSave", data=data)
    assert result["allowed"] is True
    assert [r["ruleId"] for r in result["executedRules"]] == [rule["ruleId"]]
    executed = result["executedRules"][0]
    assert executed["conditionResult"] is True and executed["ruleType"] == "GUARD"
    assert executed["actionsExecuted"] is None and isinstance(executed["logId"], str)
    assert result["logIds"] == [executed["logId"]]
    assert isinstance(result["totalExecutionTime"], int | float)

    by_id = await api.execute_rule(rule["id"], data=data)
    assert by_id["success"] is True and by_id["ruleId"] == rule["ruleId"] and by_id["conditionResult"] is True
    assert isinstance(by_id["logId"], str)

    logs = await api.logs(ruleId=rule["id"])
    assert logs["total"] == 2
    entry = logs["items"][0]
    assert entry["ruleId"] == rule["id"] and entry["ruleName"] == "A rule" and entry["ruleType"] == "GUARD"
    assert entry["executionResult"] == "SUCCESS" and entry["executedBy"] == str(api.account.user_id)
    assert entry["inputContext"]["data"] == data

    detail = (await api.request("GET", f"/logs/{by_id['logId']}")).json()
    assert detail["rule"] == {
        "id": rule["id"], "ruleId": rule["ruleId"], "ruleName": "A rule", "ruleType": "GUARD", "entityType": entity,
    }  # fmt: skip
    assert detail["entityType"] == entity and detail["entityId"] == "unknown"
    assert detail["outputContext"]["conditionResult"] is True

    assert (await api.request("GET", "/logs/not-a-number")).json() == {"error": "Invalid log id"}
    missing = await api.request("GET", "/logs/999999999")
    assert missing.status_code == 404 and missing.json() == {"error": "Log entry not found"}


async def test_execute_by_id_refusals_are_200_with_an_error(api: RulesApi) -> None:
    disabled = await api.create_rule(enabled=False)
    assert (await api.execute_rule(disabled["id"])) == {
        "success": False, "ruleId": disabled["ruleId"], "ruleName": "A rule", "conditionResult": False,
        "actionsExecuted": None, "executionTime": 0, "error": "Rule is disabled",
    }  # fmt: skip
    future = await api.create_rule(effectiveFrom=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    assert (await api.execute_rule(future["id"]))["error"].startswith("Rule is not yet effective (starts ")
    past = await api.create_rule(
        effectiveFrom="2000-01-01T00:00:00Z", effectiveTo=(datetime.now(UTC) - timedelta(days=1)).isoformat()
    )
    assert (await api.execute_rule(past["id"]))["error"].startswith("Rule has expired (ended ")
    missing = await api.request("POST", f"/execute/{uuid.uuid4()}", json={})
    assert missing.status_code == 404 and missing.json() == {"error": "Rule not found"}
    invalid = await api.request("POST", "/execute/not-a-uuid", json={})
    assert invalid.status_code == 400 and invalid.json() == {"error": "Invalid rule ID"}
    no_entity = await api.request("POST", "/execute", json={"data": {}})
    assert no_entity.status_code == 400 and no_entity.json()["error"].startswith("Validation failed: entityType")


# ---------------------------------------------------------------- TC-BR-005/006 permissions

DENIED = [
    (
        "POST",
        "/rules",
        {"ruleId": "x", "ruleName": "x", "ruleType": "GUARD", "entityType": "e"},
        "business_rules.manage",
    ),
    ("PUT", "/rules", {"id": str(uuid.uuid4())}, "business_rules.manage"),
    ("DELETE", "/rules?id=" + str(uuid.uuid4()), None, "business_rules.manage"),
    ("POST", "/sets", {"setId": "x", "setName": "x"}, "business_rules.manage_sets"),
    ("PUT", "/sets", {"id": str(uuid.uuid4())}, "business_rules.manage_sets"),
    ("DELETE", "/sets?id=" + str(uuid.uuid4()), None, "business_rules.manage_sets"),
    ("POST", f"/sets/{uuid.uuid4()}/members", {"ruleId": str(uuid.uuid4())}, "business_rules.manage_sets"),
    ("PUT", f"/sets/{uuid.uuid4()}/members", {"memberId": str(uuid.uuid4())}, "business_rules.manage_sets"),
    ("DELETE", f"/sets/{uuid.uuid4()}/members?memberId=x", None, "business_rules.manage_sets"),
    ("POST", "/execute", {"entityType": "e"}, "business_rules.execute"),
    ("POST", f"/execute/{uuid.uuid4()}", {}, "business_rules.execute"),
    ("POST", f"/sets/{uuid.uuid4()}/execute", {}, "business_rules.execute"),
    ("GET", "/logs", None, "business_rules.view_logs"),
    ("GET", "/logs/1", None, "business_rules.view_logs"),
]


@pytest.mark.parametrize(("method", "path", "body", "feature"), DENIED, ids=[f"{d[0]} {d[1][:20]}" for d in DENIED])
async def test_tc_br_005_006_view_only_role_gets_403_naming_the_feature(
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    sessionmaker: async_sessionmaker[AsyncSession],
    method: str,
    path: str,
    body: Any,
    feature: str,
) -> None:
    employee = RulesApi(client, await make_account("employee"))  # business_rules.view only
    async with nothing_written(sessionmaker, employee.account.tenant_id):
        response = await employee.request(method, path, json=body)
        assert response.status_code == 403
    assert response.json() == {"error": "Forbidden", "requiredFeatures": [feature]}


async def test_view_role_can_read(client: httpx.AsyncClient, api: RulesApi, make_account: MakeAccount) -> None:
    rule = await api.create_rule()
    employee = RulesApi(client, await make_account("employee", tenant_id=api.account.tenant_id))
    assert (await employee.request("GET", f"/rules/{rule['id']}")).status_code == 200
    assert (await employee.request("GET", "/sets")).status_code == 200


# ---------------------------------------------------------------- TC-BR-007 save-time validation


async def test_tc_br_007_invalid_expressions_and_actions_are_400(
    api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async def create(**fields: Any) -> httpx.Response:
        body = {"ruleId": key(), "ruleName": "x", "ruleType": "GUARD", "entityType": "e", **fields}
        return await api.request("POST", "/rules", json=body)

    async with nothing_written(sessionmaker, api.account.tenant_id):
        empty_group = await create(conditionExpression={"operator": "AND", "rules": []})
        assert empty_group.status_code == 400
        assert empty_group.json()["error"].startswith("Validation failed: conditionExpression.rules")

        no_type = await create(successActions=[{"config": {"message": "x"}}])
        assert no_type.status_code == 400 and "successActions.0.type" in no_type.json()["error"]

        deep: dict[str, Any] = {"field": "a", "operator": "=", "value": 1}
        for _ in range(11):
            deep = {"operator": "AND", "rules": [deep]}
        over = await create(conditionExpression=deep)
        assert over.status_code == 400 and "safety limits" in over.json()["error"]
        wide = await create(
            conditionExpression={
                "operator": "OR",
                "rules": [{"field": "a", "operator": "=", "value": i} for i in range(51)],
            }
        )
        assert wide.status_code == 400 and "safety limits" in wide.json()["error"]
        nested_jsonlogic: Any = True
        for _ in range(70):
            nested_jsonlogic = {"!": [nested_jsonlogic]}
        assert (await create(conditionExpression=nested_jsonlogic)).status_code == 400
        hostile = await create(conditionExpression={"matches": [{"var": "a"}, "(a+)+$"]})
        assert hostile.status_code == 400

    ok = await create(successActions=[{"type": "LOG", "config": {"message": "fine"}}])
    assert ok.status_code == 201


# ---------------------------------------------------------------- TC-BR-008 dry run


async def test_tc_br_008_dry_run_writes_nothing_live_run_logs(
    api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    entity = key("entity")
    rule = await api.create_rule(
        entityType=entity,
        conditionExpression={"==": [{"var": "ok"}, True]},
        successActions=[{"type": "NOTIFY", "config": {"message": "hi", "recipients": ["ops"]}}],
    )
    dry = await api.execute(entityType=entity, data={"ok": True}, dryRun=True)
    assert dry["allowed"] is True and "logIds" not in dry
    assert "logId" not in dry["executedRules"][0]
    assert dry["executedRules"][0]["actionsExecuted"]["results"][0]["success"] is True
    dry_by_id = await api.execute_rule(rule["id"], data={"ok": True}, dryRun=True)
    assert dry_by_id["success"] is True and "logId" not in dry_by_id
    assert await _log_rows(sessionmaker, rule["id"]) == 0

    live = await api.execute(entityType=entity, data={"ok": True})
    assert len(live["logIds"]) == 1
    assert (await api.logs(ruleId=rule["id"]))["items"][0]["executionResult"] == "SUCCESS"
    assert await _log_rows(sessionmaker, rule["id"]) == 1


# ---------------------------------------------------------------- TC-BR-009 false condition


async def test_tc_br_009_false_condition_runs_failure_actions_and_logs_failure(api: RulesApi) -> None:
    entity = key("entity")
    rule = await api.create_rule(
        entityType=entity,
        conditionExpression={"field": "amount", "operator": ">", "value": 1000},
        successActions=[{"type": "LOG", "config": {"message": "big"}}],
        failureActions=[{"type": "SHOW_WARNING", "config": {"message": "Amount {{data.amount}} is small"}}],
    )
    result = await api.execute(entityType=entity, data={"amount": 5})
    executed = result["executedRules"][0]
    assert executed["conditionResult"] is False and result["allowed"] is False  # a failed GUARD blocks
    assert executed["actionsExecuted"]["success"] is True
    assert executed["actionsExecuted"]["results"][0]["type"] == "SHOW_WARNING"
    assert executed["actionsExecuted"]["results"][0]["result"]["message"] == "Amount 5 is small"
    logs = await api.logs(ruleId=rule["id"])
    assert logs["total"] == 1
    entry = logs["items"][0]
    assert entry["executionResult"] == "FAILURE"
    assert entry["outputContext"]["conditionResult"] is False
    assert entry["outputContext"]["actionsExecuted"] == [{"type": "SHOW_WARNING", "success": True, "error": None}]


# ---------------------------------------------------------------- TC-BR-010 isolation


async def test_tc_br_010_other_tenant_and_organization_cannot_see_or_run(
    client: httpx.AsyncClient, api: RulesApi, make_account: MakeAccount, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    entity = key("entity")
    rule = await api.create_rule(entityType=entity)
    rule_set = await api.create_set()
    await api.execute(entityType=entity, data={})
    log_id = (await api.logs(ruleId=rule["id"]))["items"][0]["id"]

    other_tenant = RulesApi(client, await make_account("admin"))
    branch = uuid.UUID(await create_organization(client, api.account, "Branch"))
    other_org = RulesApi(client, await make_account("admin", tenant_id=api.account.tenant_id, organization_id=branch))
    async with nothing_written(sessionmaker, api.account.tenant_id):
        for outsider in (other_tenant, other_org):
            assert (await outsider.request("GET", "/rules", params={"ruleId": rule["ruleId"]})).json()["total"] == 0
            assert (await outsider.request("GET", f"/rules/{rule['id']}")).status_code == 404
            assert (
                await outsider.request("PUT", "/rules", json={"id": rule["id"], "ruleName": "x"})
            ).status_code == 404
            assert (await outsider.request("DELETE", "/rules", params={"id": rule["id"]})).status_code == 404
            assert (await outsider.request("GET", f"/sets/{rule_set['id']}")).status_code == 404
            assert (await outsider.request("PUT", "/sets", json={"id": rule_set["id"]})).status_code == 404
            assert (await outsider.execute(entityType=entity, data={}))["executedRules"] == []
            assert (await outsider.request("POST", f"/execute/{rule['id']}", json={})).status_code == 404
            assert (await outsider.request("GET", f"/logs/{log_id}")).status_code == 404
            assert (await outsider.logs(ruleId=rule["id"]))["total"] == 0
    # The owner still has it, unchanged.
    assert (await api.rule(rule["id"]))["ruleName"] == "A rule"


# ---------------------------------------------------------------- TC-BR-011 log filters


async def test_tc_br_011_log_filters(api: RulesApi) -> None:
    entity = key("entity")
    rule = await api.create_rule(entityType=entity, conditionExpression={"var": "pass"})
    await api.execute(entityType=entity, entityId="order-1", data={"pass": True})
    await api.execute(entityType=entity, entityId="order-2", data={"pass": False})
    await asyncio.sleep(0.05)
    boundary = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await api.execute(entityType=entity, entityId="order-3", data={"pass": False})

    def results(page: dict[str, Any]) -> list[str]:
        return [i["entityId"] for i in page["items"]]

    assert results(await api.logs(ruleId=rule["id"])) == ["order-3", "order-2", "order-1"]
    assert results(await api.logs(ruleId=rule["id"], executionResult="FAILURE")) == ["order-3", "order-2"]
    assert results(await api.logs(ruleId=rule["id"], executionResult="SUCCESS")) == ["order-1"]
    assert results(await api.logs(ruleId=rule["id"], executedAtFrom=boundary.isoformat())) == ["order-3"]
    assert results(await api.logs(ruleId=rule["id"], executedAtTo=boundary.isoformat())) == ["order-2", "order-1"]
    assert results(await api.logs(ruleId=rule["id"], entityId="order-2")) == ["order-2"]
    assert results(await api.logs(ruleId=rule["id"], sortField="executedAt", sortDir="asc")) == [
        "order-1",
        "order-2",
        "order-3",
    ]
    assert (await api.logs(entityType=entity, executedBy=str(api.account.user_id)))["total"] == 3
    paged = await api.logs(ruleId=rule["id"], pageSize=2, page=2)
    assert paged["total"] == 3 and paged["totalPages"] == 2 and results(paged) == ["order-1"]
    bad = await api.request("GET", "/logs", params={"executionResult": "MAYBE"})
    assert bad.status_code == 400
    assert (await api.request("GET", "/logs", params={"ruleId": "x"})).status_code == 400


# ---------------------------------------------------------------- optimistic locking (TC-LOCK-OSS-042)

LOCK = "x-om-ext-optimistic-lock-expected-updated-at"


async def test_optimistic_lock_on_rules_and_sets(api: RulesApi, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    rule = await api.create_rule()
    current = (await api.rule(rule["id"]))["updatedAt"]
    stale = "2001-01-01T00:00:00.000Z"

    async with nothing_written(sessionmaker, api.account.tenant_id):
        conflict = await api.request("PUT", "/rules", json={"id": rule["id"], "ruleName": "x"}, headers={LOCK: stale})
        assert conflict.status_code == 409
        assert conflict.json() == {
            "error": "record_modified", "code": "optimistic_lock_conflict",
            "currentUpdatedAt": current, "expectedUpdatedAt": stale,
        }  # fmt: skip
    # A JavaScript client sends milliseconds: that matches too.
    ms = datetime.fromisoformat(current).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    ok = await api.request("PUT", "/rules", json={"id": rule["id"], "ruleName": "y"}, headers={LOCK: ms})
    assert ok.status_code == 200, ok.text
    assert (await api.request("PUT", "/rules", json={"id": rule["id"], "ruleName": "z"})).status_code == 200
    async with nothing_written(sessionmaker, api.account.tenant_id):
        assert (
            await api.request("DELETE", "/rules", params={"id": rule["id"]}, headers={LOCK: stale})
        ).status_code == 409
    fresh = (await api.rule(rule["id"]))["updatedAt"]
    assert (await api.request("DELETE", "/rules", params={"id": rule["id"]}, headers={LOCK: fresh})).status_code == 200
    assert (await api.request("PUT", "/rules", json={"id": rule["id"]}, headers={LOCK: "garbage"})).status_code in (
        400,
        404,
    )

    rule_set = await api.create_set()
    set_now = (await api.request("GET", f"/sets/{rule_set['id']}")).json()["updatedAt"]
    async with nothing_written(sessionmaker, api.account.tenant_id):
        assert (
            await api.request("PUT", "/sets", json={"id": rule_set["id"], "setName": "x"}, headers={LOCK: stale})
        ).status_code == 409
    assert (
        await api.request("PUT", "/sets", json={"id": rule_set["id"], "setName": "x"}, headers={LOCK: set_now})
    ).status_code == 200
    async with nothing_written(sessionmaker, api.account.tenant_id):
        assert (
            await api.request("DELETE", "/sets", params={"id": rule_set["id"]}, headers={LOCK: stale})
        ).status_code == 409


# ---------------------------------------------------------------- rule sets execute (beyond the contract)


async def test_rule_set_execute_runs_enabled_members_in_sequence(api: RulesApi) -> None:
    rule_set = await api.create_set()
    calc = await api.create_rule(
        ruleType="CALCULATION",
        entityType="quotes.quote",
        successActions=[{"type": "SET_FIELD", "config": {"field": "total", "value": 1}}],
    )
    later = await api.create_rule(
        ruleType="CALCULATION",
        entityType="quotes.quote",
        priority=9999,
        successActions=[{"type": "SET_FIELD", "config": {"field": "total", "value": 2}}],
    )
    skipped = await api.create_rule(ruleType="GUARD", conditionExpression=False)
    disabled_rule = await api.create_rule(ruleType="GUARD", conditionExpression=False, enabled=False)
    for rule, sequence, enabled in ((later, 20, True), (calc, 10, True), (skipped, 5, False), (disabled_rule, 1, True)):
        response = await api.request(
            "POST",
            f"/sets/{rule_set['id']}/members",
            json={"ruleId": rule["id"], "sequence": sequence, "enabled": enabled},
        )
        assert response.status_code == 201
    result = await api.request("POST", f"/sets/{rule_set['id']}/execute", json={"data": {}})
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["setId"] == rule_set["setId"]
    assert [r["ruleId"] for r in body["executedRules"]] == [calc["ruleId"], later["ruleId"]]  # sequence, not priority
    assert body["output"] == {"total": 2} and body["allowed"] is True
    logs = await api.logs(ruleId=calc["id"])
    assert logs["items"][0]["entityType"] == "quotes.quote"  # each rule's own when none is given

    await api.request("PUT", "/sets", json={"id": rule_set["id"], "enabled": False})
    disabled = (await api.request("POST", f"/sets/{rule_set['id']}/execute", json={})).json()
    assert disabled["allowed"] is False and disabled["errors"] == ["Rule set is disabled"]
    assert (await api.request("POST", f"/sets/{uuid.uuid4()}/execute", json={})).status_code == 404
