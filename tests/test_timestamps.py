"""Every answer carries timestamps in the contract's one format, `2026-01-01T00:00:00.000Z`
(`engine.clock.iso`); rules and auth once sent Python's `+00:00` with microseconds."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import Account
from tests.rules.api_helpers import RulesApi

TIMESTAMP_KEYS = re.compile(r".*(At|From|To)$")
CONTRACT_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def timestamps(value: Any, key: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in timestamps(v, k)]
    if isinstance(value, list):
        return [found for v in value for found in timestamps(v, key)]
    if isinstance(value, str) and TIMESTAMP_KEYS.match(key):
        return [(key, value)]
    return []


async def test_rules_auth_and_directory_answers_use_the_contract_format(
    client: httpx.AsyncClient, admin: Account
) -> None:
    rules = RulesApi(client, admin)
    rule = await rules.create_rule(effectiveFrom="2020-01-01T00:00:00+02:00")
    await rules.execute_rule(rule["id"], data={})
    created = await client.post("/api/api_keys/keys", json={"name": "ts", "roles": ["employee"]}, headers=admin.headers)
    assert created.status_code == 201, created.text
    answers = [
        await rules.rule(rule["id"]),
        await rules.logs(ruleId=rule["id"]),
        created.json(),
        (await client.get("/api/api_keys/keys", headers=admin.headers)).json(),
        (await client.get("/api/auth/users", headers=admin.headers)).json(),
        (await client.get("/api/directory/tenants", headers=admin.headers)).json(),
    ]
    found = [stamp for answer in answers for stamp in timestamps(answer)]
    assert {key for key, _ in found} >= {"createdAt", "updatedAt", "effectiveFrom", "executedAt"}
    assert [stamp for stamp in found if not CONTRACT_FORMAT.match(stamp[1])] == []
    assert ("effectiveFrom", "2019-12-31T22:00:00.000Z") in found
