"""Wallets: the consumer's balances and history; admin listing, creation and manual adjustments
(each a Temporal workflow keyed by the `Idempotency-Key` header)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request

from api.deps import Res, Session, features_doc, require
from api.schemas.wallet import (
    AdjustmentBody,
    AdjustmentMade,
    AdminWallet,
    AdminWallets,
    CreateWalletsBody,
    Money,
    OwnTransaction,
    OwnTransactions,
    OwnWallet,
    OwnWallets,
    Transaction,
    Transactions,
    WalletsCreated,
)
from engine.auth.schemas import Principal
from engine.auth.scope import parse_uuid
from engine.errors import BadRequest
from engine.pagination import OffsetParams
from engine.wallet import service
from engine.wallet.ledger import BONUS, STANDARD, request_hash
from engine.wallet.schemas import AdjustmentRequest

router = APIRouter(tags=["Wallet"])

BalanceView = Annotated[Principal, Depends(require("wallet.balance.view"))]
TransactionsView = Annotated[Principal, Depends(require("wallet.transactions.view"))]
AdminList = Annotated[Principal, Depends(require("wallet.admin.list"))]
AdminCreate = Annotated[Principal, Depends(require("wallet.admin.create"))]
AdminAdjust = Annotated[Principal, Depends(require("wallet.admin.adjust"))]


def _own_user(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise BadRequest("Only a signed-in user has wallets")
    return principal.user_id


@router.get(
    "/wallet/me/wallets",
    summary="Get current user wallets",
    responses={404: {"description": "The caller has no wallets (not a consumer)"}},
    response_model=OwnWallets,
    openapi_extra=features_doc("wallet.balance.view"),
)
async def my_wallets(session: Session, principal: BalanceView) -> OwnWallets:
    """Standard, bonus and their combined virtual total (id null). Balances are what can be spent:
    the posted balance minus pending purchase holds."""
    user_id = _own_user(principal)
    rows = await service.user_wallets(session, principal.tenant_id, user_id)
    wallets = [OwnWallet(id=str(w.id), type=w.type, balance=Money.eur(w.balance - w.held)) for w in rows]
    total = sum(w.balance.amount for w in wallets)
    return OwnWallets(wallets=[*wallets, OwnWallet(id=None, type="total", balance=Money.eur(total))])


@router.get(
    "/wallet/me/wallets/transactions",
    summary="Get transaction history",
    responses={404: {"description": "The caller has no wallets (not a consumer)"}},
    response_model=OwnTransactions,
    openapi_extra=features_doc("wallet.transactions.view"),
)
async def my_transactions(
    session: Session,
    principal: TransactionsView,
    limit: int = 50,
    offset: int = 0,
    type: str | None = None,
    walletType: str | None = None,
) -> OwnTransactions:
    """Entries on the caller's wallets, newest first; `type` credit|debit, `walletType` standard|bonus."""
    user_id = _own_user(principal)
    rows = await service.user_wallets(session, principal.tenant_id, user_id)
    total, entries = await service.list_entries(
        session,
        principal.tenant_id,
        OffsetParams(limit=limit, offset=offset),
        [w.id for w in rows],
        kind=type,
        wallet_type=walletType,
    )
    return OwnTransactions(transactions=[OwnTransaction.of(e) for e in entries], total=total)


@router.get(
    "/wallet/admin/wallets",
    summary="List all wallets",
    response_model=AdminWallets,
    openapi_extra=features_doc("wallet.admin.list"),
)
async def list_wallets(
    session: Session,
    principal: AdminList,
    id: str | None = None,
    search: str | None = None,
    type: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AdminWallets:
    """User wallets of the tenant with their posted balance; `search` matches e-mail and names."""
    total, rows = await service.list_wallets(
        session,
        principal.tenant_id,
        OffsetParams(limit=limit, offset=offset),
        wallet_id=parse_uuid(id, "id"),
        search=search,
        wallet_type=type,
    )
    return AdminWallets(wallets=[AdminWallet.of(w) for w in rows], total=total)


@router.post(
    "/wallet/admin/wallets",
    status_code=201,
    summary="Create wallets for user",
    response_model=WalletsCreated,
    responses={404: {"description": "User not found"}},
    openapi_extra=features_doc("wallet.admin.create"),
)
async def create_wallets(body: CreateWalletsBody, session: Session, principal: AdminCreate) -> WalletsCreated:
    """Idempotent: a second call returns the same ids."""
    user_id = parse_uuid(body.userId, "userId")
    if user_id is None:
        raise BadRequest("userId is required")
    ids = await service.create_wallets(session, principal.tenant_id, user_id)
    return WalletsCreated(standardId=str(ids[STANDARD]), bonusId=str(ids[BONUS]))


@router.get(
    "/wallet/admin/wallets/{id}/transactions",
    summary="List wallet transactions",
    response_model=Transactions,
    responses={404: {"description": "Wallet not found"}},
    openapi_extra=features_doc("wallet.admin.list"),
)
async def wallet_transactions(
    id: str, session: Session, principal: AdminList, type: str | None = None, limit: int = 50, offset: int = 0
) -> Transactions:
    wallet_id = parse_uuid(id, "id")
    assert wallet_id is not None
    await service.wallet_in_tenant(session, principal.tenant_id, wallet_id)
    total, entries = await service.list_entries(
        session, principal.tenant_id, OffsetParams(limit=limit, offset=offset), [wallet_id], kind=type
    )
    return Transactions(transactions=[Transaction.of(e) for e in entries], total=total)


@router.post(
    "/wallet/admin/wallets/{id}/transactions",
    summary="Create manual wallet adjustment",
    response_model=AdjustmentMade,
    responses={
        404: {"description": "Wallet not found"},
        409: {"description": "Idempotency-Key reused with a different body"},
        422: {"description": "Insufficient funds (nothing is written)"},
        503: {"description": "Still running after WALLET_ADJUST_WAIT_SECONDS: retry with the same key"},
    },
    openapi_extra=features_doc("wallet.admin.adjust"),
)
async def adjust(
    id: str,
    body: AdjustmentBody,
    request: Request,
    session: Session,
    res: Res,
    principal: AdminAdjust,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> AdjustmentMade:
    """Credits or debits the wallet against the tenant's `admin_adjustments` account, recording
    actor, reason, reference and request id. Requires an `Idempotency-Key` header (400 without):
    a retry returns the first result, even while the first is still running."""
    if not idempotency_key or not idempotency_key.strip() or len(idempotency_key) > 200:
        raise BadRequest("Idempotency-Key header is required (at most 200 characters)")
    wallet_id = parse_uuid(id, "id")
    assert wallet_id is not None
    await service.wallet_in_tenant(session, principal.tenant_id, wallet_id)
    fingerprint = {"walletId": str(wallet_id), **body.model_dump(mode="json")}
    result = await service.run_adjustment(
        await res.temporal_client(),
        res.settings.temporal_task_queue,
        AdjustmentRequest(
            tenant_id=principal.tenant_id,
            wallet_id=wallet_id,
            type=body.type,
            amount=body.amountEuroCents,
            reason=body.reason,
            idempotency_key=idempotency_key.strip(),
            request_hash=request_hash(fingerprint),
            actor_id=principal.id,
            request_id=getattr(request.state, "request_id", None),
            reference_id=body.referenceId,
            expires_at=body.expiresAt,
        ),
        wait_seconds=res.settings.wallet_adjust_wait_seconds,
    )
    return AdjustmentMade(transactionId=str(result.transaction_id), newBalance=Money.eur(result.new_balance))
