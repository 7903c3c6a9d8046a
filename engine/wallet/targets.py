"""The wallet's scheduler targets (queue targets: they run with the system's authority, not a user's):
bonus expiry and the ledger reconciliation check. Both look at
every tenant's wallets, so they run only from system-scoped jobs (created by a super admin): a
tenant's job must neither expire nor read another tenant's money."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

from engine.scheduler.targets import TargetCall, queue
from engine.wallet import service

SYSTEM_ONLY = "wallet targets cover every tenant's wallets: schedule them as a system-scoped job"


def _system_scope(call: TargetCall) -> None:
    if call.tenant_id is not None:
        raise ApplicationError(SYSTEM_ONLY, non_retryable=True)


@queue("wallet.expire_bonus", "Wallet: expire bonus credit whose expiry has passed")
async def expire_bonus(call: TargetCall) -> dict[str, Any]:
    _system_scope(call)
    report = await service.expire_bonus(call.session)
    return report.model_dump(mode="json")


@queue("wallet.reconcile", "Wallet: check cached balances against the ledger")
async def reconcile(call: TargetCall) -> dict[str, Any]:
    _system_scope(call)
    report = await service.reconcile(call.session)
    if not report.ok:
        # A difference is an alarm, not a transient error: recorded as a failed run, never retried.
        raise ApplicationError(f"Ledger differences found: {report.model_dump_json()}", non_retryable=True)
    return report.model_dump(mode="json")
