"""The eSIM activities: one database session per attempt, 1Global through the port. A 4xx from
1Global (other than 429) becomes a non-retryable `OneGlobalRefused` activity error carrying the
vendor's message; 429/5xx are retried by the client and then by Temporal."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import segno
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from engine.consumers import service as consumers
from engine.consumers.errors import ConsumerNotFound
from engine.db.models import EsimRow, OneGlobalWebhookRow
from engine.esims import activities as act
from engine.esims import onglobal_fields as f
from engine.esims import repository
from engine.esims.ports import OneGlobal, OneGlobalRefused
from engine.esims.schemas import (
    AppliedEvent,
    ApplyEvent,
    CompleteOrder,
    EsimRef,
    EsimSignal,
    EsimState,
    HoldOutcome,
    HomeZoneInput,
    OrderCheck,
    PlaceOrderResult,
    PrepareEsim,
    SweepWebhooks,
    SweepWebhooksResult,
    UsageSyncInput,
    UsageSyncResult,
    VendorSubscription,
)
from engine.esims.service import StoredWebhook, dispatch_webhook, signal_esim
from engine.esims.state_machine import Transition
from engine.settings import Settings
from engine.wallet import service as wallet
from engine.wallet.errors import InsufficientFunds, WalletNotFound
from workers.workflows.errors import NonRetryable

log = logging.getLogger("covo.esims")

P = ParamSpec("P")
R = TypeVar("R")


HEARTBEAT_SECONDS = 1.0


async def _heartbeat() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(HEARTBEAT_SECONDS)


def vendor_call(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Heartbeats while 1Global is being called, so a worker that dies mid-call is noticed
    within the workflow's heartbeat timeout (not the whole start-to-close timeout); 1Global's 4xx
    becomes a non-retryable error carrying the vendor's words (the API's 502)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        beating = asyncio.create_task(_heartbeat())
        try:
            return await fn(*args, **kwargs)
        except OneGlobalRefused as exc:
            raise ApplicationError(exc.message, type="OneGlobalRefused", non_retryable=True) from exc
        finally:
            beating.cancel()

    return wrapper


class EsimActivities:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, client: Client, onglobal: OneGlobal
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.client = client
        self.onglobal = onglobal

    async def _row(self, session: AsyncSession, esim_id: uuid.UUID) -> EsimRow:
        row = await session.get(EsimRow, esim_id)
        if row is None:
            raise NonRetryable(f"eSIM {esim_id} does not exist")
        return row

    @activity.defn(name=act.PREPARE)
    async def prepare(self, request: PrepareEsim) -> EsimState:
        async with self.sessionmaker() as session, session.begin():
            if request.new is not None:
                new = request.new
                await session.execute(
                    insert(EsimRow)
                    .values(
                        id=request.esim_id,
                        tenant_id=new.tenant_id,
                        consumer_profile_id=new.consumer_profile_id,
                        user_id=new.user_id,
                        consumer_email=new.consumer_email,
                        name=new.name,
                        status="pending",
                        product_offering_id=new.product_offering_id,
                        price_cents=new.price_cents,
                    )
                    .on_conflict_do_nothing(index_elements=[EsimRow.id])
                )
            row = await session.get(EsimRow, request.esim_id)
            if row is None:
                return EsimState(exists=False)
            return EsimState(
                exists=True,
                status=row.status,
                order_id=row.one_global_order_id,
                subscription_id=row.one_global_subscription_id,
                price_cents=row.price_cents,
                hold_id=row.hold_id,
            )

    @activity.defn(name=act.HOLD_FUNDS)
    async def hold_funds(self, request: EsimRef) -> HoldOutcome:
        """Holds the price on the consumer's wallet (idempotent by `esim-<id>`). Too little money:
        the eSIM row is removed in the same transaction, since nothing was ordered."""
        async with self.sessionmaker() as session, session.begin():
            row = await self._row(session, request.esim_id)
            if row.price_cents <= 0 or row.user_id is None:
                return HoldOutcome(held=True)
            try:
                async with session.begin_nested():  # a refused hold leaves nothing behind
                    held = await wallet.hold(
                        session,
                        tenant_id=row.tenant_id,
                        user_id=row.user_id,
                        amount=row.price_cents,
                        idempotency_key=hold_key(row.id),
                        reference_type="esim",
                        reference_id=str(row.id),
                        description=f"eSIM {row.name}",
                    )
            except (InsufficientFunds, WalletNotFound) as exc:
                await session.delete(row)
                return HoldOutcome(held=False, message=exc.message)
            row.hold_id = str(held.hold_id)
            return HoldOutcome(held=True)

    @activity.defn(name=act.ENSURE_SUBSCRIBER)
    @vendor_call
    async def ensure_subscriber(self, request: EsimRef) -> None:
        async with self.sessionmaker() as session, session.begin():
            row = await self._row(session, request.esim_id)
            if row.one_global_subscriber_id:
                return
            email = row.consumer_email or f"{row.consumer_profile_id}@consumers.covo.invalid"
            await self.onglobal.get_account(self.settings.oneglobal_account_id)
            subscriber = await self.onglobal.find_subscriber(email)
            if subscriber is None:
                first, last = await _names(session, row)
                subscriber = await self.onglobal.create_subscriber(
                    email=email,
                    first_name=first,
                    last_name=last,
                    idempotency_key=f"subscriber-{row.consumer_profile_id}",
                )
            row.one_global_subscriber_id = subscriber

    @activity.defn(name=act.PLACE_ORDER)
    @vendor_call
    async def place_order(self, request: EsimRef) -> PlaceOrderResult:
        async with self.sessionmaker() as session, session.begin():
            row = await self._row(session, request.esim_id)
            if row.one_global_order_id:
                return PlaceOrderResult(order_id=row.one_global_order_id)
            email = row.consumer_email or f"{row.consumer_profile_id}@consumers.covo.invalid"
            # The key is our eSIM id: a retried attempt (or a new worker after a crash) gets the
            # same order back instead of a second one.
            first, last = await _names(session, row)
            placed = await self.onglobal.activate_subscription(
                subscriber_id=row.one_global_subscriber_id or "",
                email=email,
                first_name=first,
                last_name=last,
                product_offering_id=row.product_offering_id,
                idempotency_key=f"esim-{row.id}",
            )
            row.one_global_order_id = placed.id
            return PlaceOrderResult(order_id=placed.id)

    @activity.defn(name=act.CHECK_ORDER)
    @vendor_call
    async def check_order(self, request: EsimRef) -> OrderCheck:
        async with self.sessionmaker() as session:
            row = await self._row(session, request.esim_id)
            order_id = row.one_global_order_id
        if not order_id:
            return OrderCheck(status="pending")
        return OrderCheck(status=(await self.onglobal.get_order(order_id)).status)

    @activity.defn(name=act.COMPLETE_ORDER)
    @vendor_call
    async def complete_order(self, request: CompleteOrder) -> AppliedEvent:
        """Reads the order (the webhook is only a hint) and moves the row to `ready` with every
        artefact, or to `provisioning_failed`."""
        async with self.sessionmaker() as session:
            row = await self._row(session, request.esim_id)
            order_id, tenant_id, hold_id = row.one_global_order_id, row.tenant_id, row.hold_id
        reason = request.reason
        values: dict[str, Any] = {}
        move = Transition(request.transition)
        if move == Transition.ORDER_COMPLETED and order_id:
            placed = await self.onglobal.get_order(order_id)
            if placed.status == "pending":
                raise ApplicationError("1Global still reports the order pending")  # retried
            if placed.status != "completed":
                move, reason = Transition.ORDER_CANCELED, placed.reason or f"1Global order {placed.status}"
            else:
                values = {
                    "iccid": placed.iccid,
                    "matching_id": placed.matching_id,
                    "activation_code": placed.activation_code,
                    "qr_code_url": placed.qr_code_url or _qr_url(placed.activation_code),
                    "one_global_subscription_id": placed.subscription_id,
                }
                if placed.subscription_id:
                    values.update(_subscription_values(await self.onglobal.get_subscription(placed.subscription_id)))
        if move == Transition.ORDER_CANCELED:
            values = {"failure_reason": reason or "1Global canceled the order"}
        claimed: list[EsimSignal] = []
        async with self.sessionmaker() as session, session.begin():
            status, moved = await repository.transition(
                session,
                request.esim_id,
                move,
                source=request.source,
                source_event_id=request.event_id,
                values=values,
                detail={"reason": reason} if reason else {},
            )
            if moved and hold_id:
                # In the status change's own transaction: the money moves exactly when the eSIM does.
                settle = wallet.post_hold if move == Transition.ORDER_COMPLETED else wallet.void_hold
                await settle(session, tenant_id=tenant_id, idempotency_key=hold_key(request.esim_id))
        if moved and move == Transition.ORDER_COMPLETED:
            # After the ICCID is committed (see service.route_webhook for the other half).
            async with self.sessionmaker() as session, session.begin():
                rows = await repository.claim_unassigned_webhooks(
                    session, request.esim_id, values.get("one_global_subscription_id"), values.get("iccid")
                )
                claimed = [EsimSignal(event_id=r.event_id, type=r.normalized_type, payload=r.payload) for r in rows]
        for signal in claimed:  # lifecycle webhooks that came before we knew the ICCID
            await signal_esim(self.client, self.settings, request.esim_id, signal)
        return AppliedEvent(status=status, changed=moved)

    @activity.defn(name=act.APPLY_EVENT)
    @vendor_call
    async def apply_event(self, request: ApplyEvent) -> AppliedEvent:
        event, payload = request.event, request.event.payload
        async with self.sessionmaker() as session:
            row = await self._row(session, request.esim_id)
            current, subscription_id = row.status, row.one_global_subscription_id
            if await repository.seen(session, row.id, event.event_id):
                return AppliedEvent(status=current, changed=False)
        move: Transition | None = None
        values: dict[str, Any] = {}
        detail: dict[str, Any] = {}
        if event.type == "download_progress":
            move, error = f.download_progress(payload)
            if f.event_eid(payload):
                values["eid"] = f.event_eid(payload)
            if error:
                values["install_error"] = error
        elif event.type == "usage_threshold":
            remaining = f.usage_remaining(payload)
            if remaining is not None and row.total_bytes:
                values["used_bytes"] = max(row.total_bytes - remaining, row.used_bytes)
        elif event.type == "subscription_end" and subscription_id:
            subscription = await self.onglobal.get_subscription(subscription_id)
            values.update(_subscription_values(subscription))
            if subscription.status == f.SUBSCRIPTION_DEPLETED:
                move = Transition.DEPLETED
                values["used_bytes"] = values.get("total_bytes") or row.total_bytes
                values["is_throttled"] = True
            elif subscription.status == f.SUBSCRIPTION_EXPIRED:
                move = Transition.EXPIRED
        elif event.type in f.SUBSCRIPTION_EVENTS:
            move = f.SUBSCRIPTION_EVENTS[event.type]
        elif event.type == "sim_profile_status_changed":
            move = f.SIM_PROFILE_STATUSES.get(f.sim_profile_status(payload))
        if move == Transition.ACTIVATED:
            values["activated_at"] = datetime.now(UTC)
        async with self.sessionmaker() as session, session.begin():
            if move is not None:
                status, moved = await repository.transition(
                    session, row.id, move, source="webhook", source_event_id=event.event_id, values=values
                )
                if not moved:
                    values = {}  # an ignored event changes nothing
            else:
                status, moved = current, False
                fresh = await repository.record_event(
                    session,
                    row.id,
                    event.type,
                    from_status=current,
                    to_status=current,
                    applied=bool(values),
                    source="webhook",
                    source_event_id=event.event_id,
                    detail=detail,
                )
                if fresh and values:
                    await repository.set_values(session, row.id, **values)
            if "used_bytes" in values:
                await repository.snapshot_usage(session, row.id, datetime.now(UTC).date(), int(values["used_bytes"]))
        return AppliedEvent(status=status, changed=moved)

    @activity.defn(name=act.SET_HOME_ZONE)
    @vendor_call
    async def set_home_zone(self, request: HomeZoneInput) -> None:
        async with self.sessionmaker() as session:
            row = await self._row(session, request.esim_id)
            subscription_id = row.one_global_subscription_id
        if not subscription_id:
            raise NonRetryable("the eSIM has no 1Global subscription yet")
        # One key per toggle request (its workflow run), stable across this activity's retries.
        key = f"esim-{request.esim_id}-home-zone-{activity.info().workflow_run_id}"
        await self.onglobal.set_home_zone(subscription_id, request.disabled, idempotency_key=key)
        async with self.sessionmaker() as session, session.begin():
            await repository.set_values(session, request.esim_id, home_zone_disabled=request.disabled)

    @activity.defn(name=act.SYNC_USAGE)
    @vendor_call
    async def sync_usage(self, request: UsageSyncInput) -> UsageSyncResult:
        """Itemised usage of the last days → per-day cumulative snapshots (replacing what webhooks
        estimated), and the subscription's balance → used/total bytes."""
        today = datetime.now(UTC).date()
        first = today - timedelta(days=request.days - 1)
        items = await self.onglobal.usage_items(first, today)
        by_subscription: dict[str, list[tuple[date, int]]] = defaultdict(list)
        for item in items:
            if item.subscription_id:
                by_subscription[item.subscription_id].append((item.started_at.date(), item.bytes))
        query = select(EsimRow.id, EsimRow.one_global_subscription_id).where(
            EsimRow.one_global_subscription_id.in_(list(by_subscription))
        )
        if request.tenant_id is not None:
            query = query.where(EsimRow.tenant_id == request.tenant_id)
        async with self.sessionmaker() as session:
            esims = (await session.execute(query)).all()
        for esim_id, subscription_id in esims:
            assert subscription_id is not None
            subscription = await self.onglobal.get_subscription(subscription_id)
            values = _subscription_values(subscription)
            used_now = int(values.get("used_bytes") or 0)
            async with self.sessionmaker() as session, session.begin():
                if values:
                    await repository.set_values(session, esim_id, **values)
                for offset in range(request.days):
                    day = first + timedelta(days=offset)
                    later = sum(n for d, n in by_subscription[subscription_id] if d > day)
                    await repository.snapshot_usage(session, esim_id, day, max(used_now - later, 0), authoritative=True)
        return UsageSyncResult(esims=len(esims), items=len(items))


class EsimSweepActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, client: Client) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.client = client

    @activity.defn(name=act.SWEEP_WEBHOOKS)
    async def sweep_webhooks(self, request: SweepWebhooks) -> SweepWebhooksResult:
        now = datetime.now(UTC)
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(OneGlobalWebhookRow)
                    .where(
                        OneGlobalWebhookRow.signalled_at.is_(None),
                        OneGlobalWebhookRow.received_at < now - timedelta(seconds=request.grace_seconds),
                        OneGlobalWebhookRow.received_at > now - timedelta(seconds=request.horizon_seconds),
                        OneGlobalWebhookRow.normalized_type.in_(list(f.KNOWN_EVENTS)),
                    )
                    .order_by(OneGlobalWebhookRow.received_at)
                    .limit(request.limit)
                )
            ).all()
        signalled = 0
        for row in rows:
            stored = StoredWebhook(
                row.id,
                EsimSignal(event_id=row.event_id, type=row.normalized_type, payload=row.payload),
                row.esim_id,
                False,
            )
            signalled += await dispatch_webhook(self.sessionmaker, self.client, self.settings, stored)
            activity.heartbeat()
        return SweepWebhooksResult(signalled=signalled)


async def _names(session: AsyncSession, row: EsimRow) -> tuple[str, str]:
    """The consumer's names for 1Global's subscriber (required there; placeholders when unknown)."""
    try:
        consumer = await consumers.consumer_by_id(session, row.tenant_id, row.consumer_profile_id)
    except ConsumerNotFound:
        return "Covo", "Consumer"
    return consumer.first_name or "Covo", consumer.last_name or "Consumer"


def hold_key(esim_id: uuid.UUID) -> str:
    return f"esim-{esim_id}"


def _subscription_values(subscription: VendorSubscription) -> dict[str, Any]:
    values: dict[str, Any] = {
        "phone_number": subscription.phone_number,
        "country_code": subscription.country_code,
        "expires_at": subscription.expires_at,
    }
    if subscription.total_bytes is not None:
        values["total_bytes"] = subscription.total_bytes
    if subscription.used_bytes is not None:
        values["used_bytes"] = subscription.used_bytes
    return {k: v for k, v in values.items() if v is not None}


def _qr_url(activation_code: str | None) -> str | None:
    """Without a vendor QR link, the QR code rendered here from the LPA string (an SVG data URL)."""
    if not activation_code:
        return None
    return str(segno.make(activation_code, error="m").svg_data_uri())
