"""The wallet's and the eSIM domain's scheduler targets: listed, run by a trigger, and the wallet's
cross-tenant ones refused from a tenant's job."""

from __future__ import annotations

import httpx

from tests.conftest import Account
from tests.scheduler.helpers import create_job, trigger, wait_for_runs


async def test_domain_targets_are_listed(client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.get("/api/scheduler/targets", headers=admin.headers)
    assert response.status_code == 200, response.text
    names = {t["value"] for t in response.json()["queues"]}
    assert {"wallet.expire_bonus", "wallet.reconcile", "esims.sync_usage"} <= names


async def test_a_system_job_reconciles_the_ledger(client: httpx.AsyncClient, superadmin: Account) -> None:
    job_id = await create_job(
        client, superadmin, scopeType="system", isEnabled=False, targetType="queue", targetQueue="wallet.reconcile"
    )
    await trigger(client, superadmin, job_id)
    [run] = await wait_for_runs(client, superadmin, job_id, 1, statuses=("completed", "failed"))
    assert run["status"] == "completed", run
    assert run["result"]["global_sum"] == 0 and run["result"]["differences"] == []


async def test_a_tenant_job_cannot_expire_every_tenants_bonus(client: httpx.AsyncClient, admin: Account) -> None:
    job_id = await create_job(client, admin, isEnabled=False, targetType="queue", targetQueue="wallet.expire_bonus")
    await trigger(client, admin, job_id)
    [run] = await wait_for_runs(client, admin, job_id, 1, statuses=("completed", "failed"))
    assert run["status"] == "failed" and "system-scoped" in run["errorMessage"]
    assert run["result"] is None
