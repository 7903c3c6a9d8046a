"""The wallet ledger's operations. Every money movement is one transaction of entries summing to
zero against a system account, written with the cached balance it changes in the caller's
database transaction; every operation is idempotent by a caller-given key.

The caller owns the transaction (an API request, or one activity attempt): these functions flush,
never commit. When one raises (InsufficientFunds, ...) the caller's transaction must be rolled
back, which the request session and `async with session.begin()` do by themselves.

Used by eSIM provisioning (two-phase purchase):
    hold(...)            reserve the price, bonus first then standard
    post_hold(...)       the purchase happened: one debit transaction, exactly once
    void_hold(...)       it did not: release the reservation, exactly once
    refund(...)          give a posted purchase back, in its original split
Used by the scheduler: `expire_bonus(session)` and `reconcile(session)`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from engine.db.base import utcnow
from engine.db.models import BonusLotRow, User, WalletEntryRow, WalletHoldRow, WalletRow, WalletTransactionRow
from engine.errors import BadRequest, DomainError, NotFound, ServiceUnavailable, Unprocessable
from engine.pagination import OffsetParams, page_of
from engine.temporal import ids
from engine.wallet import repository as repo
from engine.wallet.errors import HoldStateConflict, IdempotencyKeyReused, InsufficientFunds, WalletNotFound
from engine.wallet.ledger import (
    ADMIN_ADJUSTMENTS,
    BONUS,
    PROMOTIONS,
    REFUNDS,
    SALES,
    STANDARD,
    WALLET_TYPES,
    LotTake,
    refund_split,
    split_spend,
    take_from_lots,
)
from engine.wallet.schemas import (
    AdjustmentRequest,
    AdjustmentResult,
    ExpiryReport,
    HoldResult,
    ReconcileReport,
    RefundResult,
    WalletDifference,
)
from engine.wallet.workflows import WalletAdjustmentWorkflow

ensure_user_wallets = repo.ensure_user_wallets


# ---------------------------------------------------------------- adjustments


async def adjust(session: AsyncSession, request: AdjustmentRequest) -> AdjustmentResult:
    """A manual credit or debit of one user wallet against `admin_adjustments`. Idempotent by
    `request.idempotency_key`: a repeat returns the first result, a different request with the
    same key raises IdempotencyKeyReused. A debit beyond the available balance writes nothing."""
    key = f"adj:{request.idempotency_key}"
    existing = await repo.transaction_by_key(session, request.tenant_id, key)
    if existing is not None:
        return await _replayed_adjustment(session, existing, request)
    wallet_type = await session.scalar(
        select(WalletRow.type).where(
            WalletRow.id == request.wallet_id, WalletRow.tenant_id == request.tenant_id, WalletRow.type != "system"
        )
    )
    if wallet_type is None:
        raise WalletNotFound()
    delta = request.amount if request.type == "credit" else -request.amount
    new_balance = await repo.apply_delta(session, request.wallet_id, delta)
    if new_balance is None:
        raise InsufficientFunds()
    now = utcnow()
    lot_id = uuid.uuid4() if wallet_type == BONUS and delta > 0 else None
    takes: tuple[LotTake, ...] = ()
    if wallet_type == BONUS and delta < 0:
        # Spent soonest-expiring lot first; expired (not yet swept) bonus is not spendable.
        takes = take_from_lots(-delta, await repo.lots_for_update(session, request.wallet_id), now)
        for take in takes:
            await repo.change_lot(session, take.lot_id, -take.amount)
    system = await repo.system_account(session, request.tenant_id, ADMIN_ADJUSTMENTS)
    transaction_id = await repo.insert_transaction(
        session,
        {
            "tenant_id": request.tenant_id,
            "idempotency_key": key,
            "request_hash": request.request_hash,
            "type": request.type,
            "reference_type": "admin_adjustment",
            "reference_id": request.reference_id,
            "description": request.reason,
            "reason": request.reason,
            "actor_id": request.actor_id,
            "request_id": request.request_id,
        },
        [
            *_wallet_entries(request.wallet_id, delta, new_balance, takes, lot_id),
            {"wallet_id": system, "amount": -delta},
        ],
    )
    if lot_id is not None:
        await repo.add_lot(
            session, request.tenant_id, request.wallet_id, transaction_id, delta, request.expires_at, lot_id=lot_id
        )
    return AdjustmentResult(transaction_id=transaction_id, new_balance=new_balance)


def _wallet_entries(
    wallet_id: uuid.UUID, delta: int, new_balance: int, takes: tuple[LotTake, ...], lot_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    """The wallet side: one entry, or one per bonus lot a debit touched (with running balances)."""
    if not takes:
        return [{"wallet_id": wallet_id, "amount": delta, "balance_after": new_balance, "lot_id": lot_id}]
    entries, balance = [], new_balance - delta
    for take in takes:
        balance -= take.amount
        entries.append(
            {"wallet_id": wallet_id, "amount": -take.amount, "balance_after": balance, "lot_id": take.lot_id}
        )
    return entries


async def _replayed_adjustment(
    session: AsyncSession, existing: WalletTransactionRow, request: AdjustmentRequest
) -> AdjustmentResult:
    if existing.request_hash != request.request_hash:
        raise IdempotencyKeyReused()
    balance = await session.scalar(
        select(WalletEntryRow.balance_after)
        .where(WalletEntryRow.transaction_id == existing.id, WalletEntryRow.wallet_id == request.wallet_id)
        .order_by(WalletEntryRow.balance_after.asc())
        .limit(1)
    )
    return AdjustmentResult(transaction_id=existing.id, new_balance=int(balance or 0))


async def grant_bonus(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    expires_at: datetime | None = None,
    reason: str = "Bonus",
) -> uuid.UUID:
    """Credits the user's bonus wallet from `promotions` as one lot (with an optional expiry).
    Idempotent by key; returns the transaction id."""
    if amount <= 0:
        raise BadRequest("amount must be positive")
    key = f"bonus:{idempotency_key}"
    existing = await repo.transaction_by_key(session, tenant_id, key)
    if existing is not None:
        return existing.id
    wallets = await repo.ensure_user_wallets(session, tenant_id, user_id)
    new_balance = await repo.apply_delta(session, wallets[BONUS], amount)
    assert new_balance is not None  # a credit is always covered
    system = await repo.system_account(session, tenant_id, PROMOTIONS)
    transaction_id = await repo.insert_transaction(
        session,
        {
            "tenant_id": tenant_id,
            "idempotency_key": key,
            "type": "credit",
            "reference_type": "bonus_grant",
            "description": reason,
            "reason": reason,
        },
        [
            {"wallet_id": wallets[BONUS], "amount": amount, "balance_after": new_balance},
            {"wallet_id": system, "amount": -amount},
        ],
    )
    await repo.add_lot(session, tenant_id, wallets[BONUS], transaction_id, amount, expires_at)
    return transaction_id


# ---------------------------------------------------------------- two-phase purchases


async def _locked_user_wallets(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, WalletRow]:
    """Both wallets of a user, row-locked in id order (the one lock order every path uses)."""
    rows = (
        await session.scalars(
            select(WalletRow)
            .where(WalletRow.tenant_id == tenant_id, WalletRow.user_id == user_id)
            .order_by(WalletRow.id)
            .with_for_update()
        )
    ).all()
    wallets = {row.type: row for row in rows}
    if STANDARD not in wallets or BONUS not in wallets:
        raise WalletNotFound()
    return wallets


def _hold_result(row: WalletHoldRow) -> HoldResult:
    return HoldResult(
        hold_id=row.id,
        status=row.status,
        amount=row.bonus_amount + row.standard_amount,
        bonus_amount=row.bonus_amount,
        standard_amount=row.standard_amount,
        transaction_id=row.transaction_id,
    )


async def _hold_by_key(session: AsyncSession, tenant_id: uuid.UUID, key: str, *, lock: bool) -> WalletHoldRow | None:
    query = select(WalletHoldRow).where(WalletHoldRow.tenant_id == tenant_id, WalletHoldRow.idempotency_key == key)
    return await session.scalar(query.with_for_update() if lock else query)


async def hold(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    amount: int,
    idempotency_key: str,
    reference_type: str = "purchase",
    reference_id: str | None = None,
    description: str = "",
) -> HoldResult:
    """Reserves `amount` cents of the user's available balance, bonus first (soonest-expiring lot
    first), then standard. Idempotent by `idempotency_key` (a repeat returns the same hold; the
    same key with another amount raises IdempotencyKeyReused). Raises InsufficientFunds (422)
    or WalletNotFound (404) and then reserves nothing."""
    if amount <= 0:
        raise BadRequest("amount must be positive")
    # Locking the wallets first serialises concurrent holds of the same key too: the second one
    # then sees the first one's row.
    wallets = await _locked_user_wallets(session, tenant_id, user_id)
    existing = await _hold_by_key(session, tenant_id, idempotency_key, lock=False)
    if existing is not None:
        if existing.bonus_amount + existing.standard_amount != amount or existing.user_id != user_id:
            raise IdempotencyKeyReused()
        return _hold_result(existing)
    bonus, standard = wallets[BONUS], wallets[STANDARD]
    split = split_spend(
        amount, await repo.lots_for_update(session, bonus.id), standard.balance - standard.held, utcnow()
    )
    for take in split.lots:
        await repo.change_lot(session, take.lot_id, -take.amount)
    for wallet, part in ((bonus, split.bonus), (standard, split.standard)):
        if part and await repo.apply_delta(session, wallet.id, 0, reserve=part) is None:
            raise InsufficientFunds()
    row = WalletHoldRow(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        user_id=user_id,
        idempotency_key=idempotency_key,
        status="pending",
        bonus_amount=split.bonus,
        standard_amount=split.standard,
        lots=[
            {
                "lotId": str(t.lot_id),
                "amount": t.amount,
                "expiresAt": t.expires_at.isoformat() if t.expires_at else None,
            }
            for t in split.lots
        ],
        reference_type=reference_type,
        reference_id=reference_id,
        description=description,
    )
    session.add(row)
    await session.flush()
    return _hold_result(row)


async def _pending_hold(session: AsyncSession, tenant_id: uuid.UUID, key: str) -> WalletHoldRow:
    row = await _hold_by_key(session, tenant_id, key, lock=True)
    if row is None:
        raise NotFound("Hold not found")
    return row


async def post_hold(session: AsyncSession, *, tenant_id: uuid.UUID, idempotency_key: str) -> HoldResult:
    """Turns the pending hold `idempotency_key` into the purchase: one debit transaction with one
    entry per wallet touched against `sales`. Exactly once: posting again returns the same
    result; posting a voided hold raises HoldStateConflict (409)."""
    row = await _pending_hold(session, tenant_id, idempotency_key)
    if row.status == "posted":
        return _hold_result(row)
    if row.status == "voided":
        raise HoldStateConflict("Hold was voided")
    wallets = await _locked_user_wallets(session, tenant_id, row.user_id)
    entries: list[dict[str, Any]] = []
    for wallet in sorted(wallets.values(), key=lambda w: w.id):
        part = row.bonus_amount if wallet.type == BONUS else row.standard_amount
        if part:
            balance = await repo.apply_delta(session, wallet.id, -part, release_held=part)
            assert balance is not None  # the hold reserved it
            entries.append({"wallet_id": wallet.id, "amount": -part, "balance_after": balance})
    total = row.bonus_amount + row.standard_amount
    entries.append({"wallet_id": await repo.system_account(session, tenant_id, SALES), "amount": total})
    row.transaction_id = await repo.insert_transaction(
        session,
        {
            "tenant_id": tenant_id,
            "idempotency_key": f"post:{idempotency_key}",
            "type": "debit",
            "reference_type": row.reference_type,
            "reference_id": row.reference_id,
            "description": row.description,
        },
        entries,
    )
    row.status = "posted"
    await session.flush()
    return _hold_result(row)


async def void_hold(session: AsyncSession, *, tenant_id: uuid.UUID, idempotency_key: str) -> HoldResult:
    """Releases the pending hold `idempotency_key` (its bonus goes back to the same lots). Exactly
    once: voiding again returns the same result; voiding a posted hold raises HoldStateConflict."""
    row = await _pending_hold(session, tenant_id, idempotency_key)
    if row.status == "voided":
        return _hold_result(row)
    if row.status == "posted":
        raise HoldStateConflict("Hold was already posted")
    wallets = await _locked_user_wallets(session, tenant_id, row.user_id)
    for wallet in sorted(wallets.values(), key=lambda w: w.id):
        part = row.bonus_amount if wallet.type == BONUS else row.standard_amount
        if part:
            await repo.apply_delta(session, wallet.id, 0, release_held=part)
    for take in row.lots:
        await repo.change_lot(session, uuid.UUID(take["lotId"]), int(take["amount"]))
    row.status = "voided"
    await session.flush()
    return _hold_result(row)


async def refund(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    transaction_id: uuid.UUID,
    idempotency_key: str,
    amount: int | None = None,
    reason: str = "Refund",
    actor_id: uuid.UUID | None = None,
) -> RefundResult:
    """Gives back (part of) a debit transaction, reversing its split: the bonus part returns to
    the bonus wallet (as a lot with the earliest expiry of the lots it came from), the rest to
    standard, against `refunds`. `amount` None refunds everything not yet refunded. Idempotent by
    key; refunding more than is left raises Unprocessable (422)."""
    key = f"refund:{idempotency_key}"
    original = await session.scalar(
        select(WalletTransactionRow)
        .where(WalletTransactionRow.id == transaction_id, WalletTransactionRow.tenant_id == tenant_id)
        .with_for_update()  # serialises refunds of one purchase (a lock, not an update)
    )
    if original is None:
        raise NotFound("Transaction not found")
    existing = await repo.transaction_by_key(session, tenant_id, key)
    if existing is not None:
        return await _refund_result(session, existing.id)
    spent = await _user_amounts(session, [original.id])
    refunded = await _user_amounts(
        session,
        list(
            (
                await session.scalars(
                    select(WalletTransactionRow.id).where(WalletTransactionRow.reverses_id == original.id)
                )
            ).all()
        ),
    )
    by_type = {w.type: w for w in (await _user_wallets_of(session, list(spent)))}
    left = {kind: -spent.get(w.id, 0) - refunded.get(w.id, 0) for kind, w in by_type.items()}
    bonus_left, standard_left = max(left.get(BONUS, 0), 0), max(left.get(STANDARD, 0), 0)
    if bonus_left + standard_left == 0:
        raise Unprocessable("Nothing left to refund")
    try:
        parts = refund_split(amount if amount is not None else bonus_left + standard_left, bonus_left, standard_left)
    except ValueError as exc:
        raise Unprocessable(str(exc))
    entries: list[dict[str, Any]] = []
    owner = next(iter(by_type.values())).user_id
    assert owner is not None
    await _locked_user_wallets(session, tenant_id, owner)
    for kind, part in sorted(zip((BONUS, STANDARD), parts, strict=True), key=lambda p: by_type[p[0]].id):
        if part:
            balance = await repo.apply_delta(session, by_type[kind].id, part)
            entries.append({"wallet_id": by_type[kind].id, "amount": part, "balance_after": balance})
    entries.append({"wallet_id": await repo.system_account(session, tenant_id, REFUNDS), "amount": -sum(parts)})
    refund_id = await repo.insert_transaction(
        session,
        {
            "tenant_id": tenant_id,
            "idempotency_key": key,
            "type": "credit",
            "reference_type": "refund",
            "reference_id": original.reference_id,
            "description": reason,
            "reason": reason,
            "actor_id": actor_id,
            "reverses_id": original.id,
        },
        entries,
    )
    if parts[0]:
        held = await session.scalar(select(WalletHoldRow.lots).where(WalletHoldRow.transaction_id == original.id))
        expiries = [datetime.fromisoformat(t["expiresAt"]) for t in held or [] if t.get("expiresAt")]
        await repo.add_lot(session, tenant_id, by_type[BONUS].id, refund_id, parts[0], min(expiries, default=None))
    return RefundResult(transaction_id=refund_id, bonus_amount=parts[0], standard_amount=parts[1])


async def _user_amounts(session: AsyncSession, transaction_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Sum of the user-wallet entries of these transactions, per wallet."""
    if not transaction_ids:
        return {}
    rows = await session.execute(
        select(WalletEntryRow.wallet_id, func.sum(WalletEntryRow.amount))
        .join(WalletRow, WalletRow.id == WalletEntryRow.wallet_id)
        .where(WalletEntryRow.transaction_id.in_(transaction_ids), WalletRow.type != "system")
        .group_by(WalletEntryRow.wallet_id)
    )
    return {wallet_id: int(total) for wallet_id, total in rows.all()}


async def _user_wallets_of(session: AsyncSession, wallet_ids: list[uuid.UUID]) -> list[WalletRow]:
    if not wallet_ids:
        raise Unprocessable("Transaction did not touch a user wallet")
    first = await session.get(WalletRow, wallet_ids[0])
    assert first is not None and first.user_id is not None
    return list((await session.scalars(select(WalletRow).where(WalletRow.user_id == first.user_id))).all())


async def _refund_result(session: AsyncSession, transaction_id: uuid.UUID) -> RefundResult:
    rows = await session.execute(
        select(WalletRow.type, WalletEntryRow.amount)
        .join(WalletRow, WalletRow.id == WalletEntryRow.wallet_id)
        .where(WalletEntryRow.transaction_id == transaction_id, WalletRow.type != "system")
    )
    parts = {kind: int(value) for kind, value in rows.all()}
    return RefundResult(
        transaction_id=transaction_id, bonus_amount=parts.get(BONUS, 0), standard_amount=parts.get(STANDARD, 0)
    )


# ---------------------------------------------------------------- scheduled commands


async def expire_bonus(session: AsyncSession, *, now: datetime | None = None, limit: int = 1000) -> ExpiryReport:
    """Expires the unspent, unreserved rest of every bonus lot whose expiry has passed (all
    tenants): one transaction per lot against `promotions`. Idempotent (keyed by lot), so a rerun
    after a crash expires nothing twice. The caller commits."""
    now = now or utcnow()
    due = (
        await session.execute(
            select(BonusLotRow.id, BonusLotRow.wallet_id, BonusLotRow.tenant_id)
            .where(BonusLotRow.remaining > 0, BonusLotRow.expires_at <= now)
            .order_by(BonusLotRow.expires_at)
            .limit(limit)
        )
    ).all()
    count = total = 0
    for lot_id, wallet_id, tenant_id in due:
        # Wallet first, then lot: the lock order holds and debits use.
        await session.execute(select(WalletRow.id).where(WalletRow.id == wallet_id).with_for_update())
        remaining = await session.scalar(
            select(BonusLotRow.remaining).where(BonusLotRow.id == lot_id).with_for_update()
        )
        if not remaining:
            continue
        balance = await repo.apply_delta(session, wallet_id, -remaining)
        if balance is None:  # cannot happen: a lot's remaining is never reserved
            continue
        await repo.change_lot(session, lot_id, -remaining)
        await repo.insert_transaction(
            session,
            {
                "tenant_id": tenant_id,
                "idempotency_key": f"expire:{lot_id}",
                "type": "debit",
                "reference_type": "bonus_expiry",
                "reference_id": str(lot_id),
                "description": "Bonus expired",
            },
            [
                {"wallet_id": wallet_id, "amount": -remaining, "balance_after": balance, "lot_id": lot_id},
                {"wallet_id": await repo.system_account(session, tenant_id, PROMOTIONS), "amount": remaining},
            ],
        )
        count, total = count + 1, total + remaining
    return ExpiryReport(lots_expired=count, amount_expired=total)


async def reconcile(session: AsyncSession) -> ReconcileReport:
    """Checks every user wallet's cached balance against the sum of its entries, that the sum over
    all accounts is zero, that every transaction balances, that each wallet's held amount is what
    its pending holds reserve and that a bonus wallet's unreserved balance is what its lots have
    left. Reads only."""
    sums = (
        select(WalletEntryRow.wallet_id, func.sum(WalletEntryRow.amount).label("total"))
        .group_by(WalletEntryRow.wallet_id)
        .subquery()
    )
    entries_total = func.coalesce(sums.c.total, 0)
    differences = (
        await session.execute(
            select(WalletRow.id, WalletRow.tenant_id, WalletRow.balance, entries_total)
            .outerjoin(sums, sums.c.wallet_id == WalletRow.id)
            .where(WalletRow.type != "system", WalletRow.balance != entries_total)
        )
    ).all()
    checked = await session.scalar(select(func.count()).select_from(WalletRow).where(WalletRow.type != "system"))
    global_sum = await session.scalar(select(func.coalesce(func.sum(WalletEntryRow.amount), 0)))
    unbalanced = (
        await session.scalars(
            select(WalletEntryRow.transaction_id)
            .group_by(WalletEntryRow.transaction_id)
            .having(func.sum(WalletEntryRow.amount) != 0)
        )
    ).all()
    # Reservations: a wallet's `held` is what its pending holds reserve, and a bonus wallet's
    # unreserved balance is what its lots have left.
    pending = (
        select(WalletHoldRow.user_id, WalletHoldRow.bonus_amount, WalletHoldRow.standard_amount)
        .where(WalletHoldRow.status == "pending")
        .subquery()
    )
    reserved = func.coalesce(
        select(func.sum(case((WalletRow.type == BONUS, pending.c.bonus_amount), else_=pending.c.standard_amount)))
        .where(pending.c.user_id == WalletRow.user_id)
        .scalar_subquery(),
        0,
    )
    lots_left = func.coalesce(
        select(func.sum(BonusLotRow.remaining)).where(BonusLotRow.wallet_id == WalletRow.id).scalar_subquery(), 0
    )
    held_wrong = (
        await session.scalars(select(WalletRow.id).where(WalletRow.type != "system", WalletRow.held != reserved))
    ).all()
    lots_wrong = (
        await session.scalars(
            select(WalletRow.id).where(WalletRow.type == BONUS, WalletRow.balance - WalletRow.held != lots_left)
        )
    ).all()
    return ReconcileReport(
        wallets_checked=int(checked or 0),
        differences=[
            WalletDifference(wallet_id=w, tenant_id=t, cached=int(c), entries=int(e)) for w, t, c, e in differences
        ],
        global_sum=int(global_sum or 0),
        unbalanced_transactions=list(unbalanced),
        held_mismatches=list(held_wrong),
        bonus_lot_mismatches=list(lots_wrong),
    )


# ---------------------------------------------------------------- adjustments through Temporal

# Failure types of the adjustment workflow turned back into the domain errors they came from.
_FAILURES: dict[str, Callable[[], DomainError]] = {
    "InsufficientFunds": InsufficientFunds,
    "WalletNotFound": WalletNotFound,
    "IdempotencyKeyReused": IdempotencyKeyReused,
}


async def run_adjustment(
    client: Client, task_queue: str, request: AdjustmentRequest, *, wait_seconds: float = 30
) -> AdjustmentResult:
    """Starts the adjustment workflow `wallet-adj-<tenant>-<key>` and waits for its result. A
    retried request (same key) attaches to the first workflow, running or finished, and gets its
    result; the same key with a different request is IdempotencyKeyReused (409). When the result
    takes longer than `wait_seconds` (no worker running), ServiceUnavailable (503): the
    adjustment still happens, and a retry with the same key returns it."""
    workflow_id = ids.wallet_adjustment_id(request.tenant_id, request.idempotency_key)
    try:
        handle = await client.start_workflow(
            WalletAdjustmentWorkflow.run,
            request,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={"requestHash": request.request_hash},
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle_for(WalletAdjustmentWorkflow.run, workflow_id)
        description = await handle.describe()
        if await description.memo_value("requestHash", None, type_hint=str) != request.request_hash:
            raise IdempotencyKeyReused()
    try:
        return await asyncio.wait_for(handle.result(), timeout=wait_seconds)
    except TimeoutError:
        raise ServiceUnavailable("The adjustment is still running; retry with the same Idempotency-Key")
    except WorkflowFailureError as exc:
        cause: BaseException | None = exc.cause
        while cause is not None:
            if isinstance(cause, ApplicationError) and cause.type in _FAILURES:
                raise _FAILURES[cause.type]()
            cause = cause.__cause__ or getattr(cause, "cause", None)
        raise


async def wallet_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, wallet_id: uuid.UUID) -> WalletRow:
    row = await session.get(WalletRow, wallet_id)
    if row is None or row.tenant_id != tenant_id or row.type == "system":
        raise WalletNotFound()
    return row


# ---------------------------------------------------------------- listings


@dataclass(frozen=True)
class ListedWallet:
    row: WalletRow
    email: str
    user_name: str | None


@dataclass(frozen=True)
class ListedEntry:
    entry: WalletEntryRow
    transaction: WalletTransactionRow
    wallet_type: str


async def user_wallets(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[WalletRow]:
    """The user's wallets (standard first). None yet: WalletNotFound."""
    rows = (
        await session.scalars(select(WalletRow).where(WalletRow.tenant_id == tenant_id, WalletRow.user_id == user_id))
    ).all()
    if not rows:
        raise WalletNotFound()
    return sorted(rows, key=lambda w: w.type != STANDARD)


async def list_wallets(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    params: OffsetParams,
    *,
    wallet_id: uuid.UUID | None = None,
    search: str | None = None,
    wallet_type: str | None = None,
) -> tuple[int, list[ListedWallet]]:
    query = repo.wallets_listing(tenant_id)
    if wallet_id is not None:
        query = query.where(WalletRow.id == wallet_id)
    if wallet_type:
        if wallet_type not in WALLET_TYPES:
            raise BadRequest("Invalid query: type must be standard or bonus")
        query = query.where(WalletRow.type == wallet_type)
    if search:
        query = query.where(repo.search_condition(search))
    total, rows = await page_of(session, query, params, WalletRow.created_at.desc(), WalletRow.id)
    return total, [ListedWallet(row, email, name) for row, email, name in rows.all()]


async def list_entries(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    params: OffsetParams,
    wallet_ids: list[uuid.UUID],
    *,
    kind: str | None = None,
    wallet_type: str | None = None,
) -> tuple[int, list[ListedEntry]]:
    """Entries on these wallets, newest first; `kind` credit|debit, `wallet_type` standard|bonus."""
    query = repo.entries_listing(tenant_id).where(WalletEntryRow.wallet_id.in_(wallet_ids))
    if kind:
        if kind not in ("credit", "debit"):
            raise BadRequest("Invalid query: type must be credit or debit")
        query = query.where(WalletEntryRow.amount > 0 if kind == "credit" else WalletEntryRow.amount < 0)
    if wallet_type:
        if wallet_type not in WALLET_TYPES:
            raise BadRequest("Invalid query: walletType must be standard or bonus")
        query = query.where(WalletRow.type == wallet_type)
    total, rows = await page_of(session, query, params, WalletEntryRow.created_at.desc(), WalletEntryRow.id.desc())
    return total, [ListedEntry(entry, transaction, kind) for entry, transaction, kind in rows.all()]


async def create_wallets(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """Both wallets of a user of the tenant; idempotent (a second call returns the same ids)."""
    user = await session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id or user.deleted_at is not None:
        raise NotFound("User not found")
    return await repo.ensure_user_wallets(session, tenant_id, user_id)
