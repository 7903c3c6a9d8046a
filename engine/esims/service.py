"""eSIM rules and Temporal calls: ordering (one `ProvisionEsim` workflow per eSIM, answered through
its `order_placement` update), reads scoped to the caller, rename, home zone, usage, webhook
intake and the usage sync. Returns rows or typed results; never commits."""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import FailureError, WorkflowAlreadyStartedError

from engine.auth.schemas import Principal
from engine.consumers import service as consumers
from engine.consumers.errors import ConsumerNotFound
from engine.db.models import ConsumerRow, EsimPriceRow, EsimRow, EsimUsageDayRow
from engine.errors import BadRequest
from engine.esims import onglobal_fields as f
from engine.esims import repository
from engine.esims.errors import EsimNotFound, EsimNotReady, OneGlobalError
from engine.esims.schemas import (
    EsimSignal,
    HomeZoneInput,
    NewEsim,
    OrderPlacement,
    PollPolicy,
    ProvisionEsimInput,
    SweepWebhooks,
    UsageSyncInput,
    UsageSyncResult,
)
from engine.esims.state_machine import EsimStatus
from engine.esims.workflows import (
    EsimHomeZoneWorkflow,
    EsimUsageSyncWorkflow,
    EsimWebhookSweepWorkflow,
    ProvisionEsimWorkflow,
)
from engine.pagination import PageParams, page_of, sort_order
from engine.settings import Settings
from engine.temporal.ids import esim_home_zone_id, esim_usage_sync_id, esim_webhook_sweep_id, esim_workflow_id
from engine.temporal.schedules import ensure_schedule
from engine.wallet.errors import InsufficientFunds

ACTIVE = (EsimStatus.READY, EsimStatus.DOWNLOADED, EsimStatus.INSTALLED, EsimStatus.ACTIVE)
# Statuses where the eSIM has a 1Global subscription to act on.
SUBSCRIBED = (*ACTIVE, EsimStatus.SUSPENDED, EsimStatus.DEPLETED)
TIMELINE_DAYS = 7


# ---------------------------------------------------------------- consumers


@dataclass(frozen=True)
class Consumer:
    id: uuid.UUID
    user_id: uuid.UUID
    email: str


async def _consumer(session: AsyncSession, row: ConsumerRow) -> Consumer:
    if not row.active:
        raise ConsumerNotFound()  # an inactive profile cannot order: as if there were none
    found = await consumers.with_email(session, row)
    return Consumer(row.id, row.user_id, found.email)


async def consumer_for_caller(session: AsyncSession, principal: Principal) -> Consumer:
    """The caller's own active consumer profile (404 without one)."""
    if principal.user_id is None:
        raise ConsumerNotFound()
    return await _consumer(session, await consumers.consumer_of_user(session, principal.tenant_id, principal.user_id))


async def consumer_by_id(session: AsyncSession, principal: Principal, consumer_id: uuid.UUID) -> Consumer:
    """An active consumer profile of the caller's tenant (404 when unknown or inactive)."""
    return await _consumer(session, await consumers.consumer_by_id(session, principal.tenant_id, consumer_id))


# ---------------------------------------------------------------- prices


async def price_of(session: AsyncSession, tenant_id: uuid.UUID, product_offering_id: str) -> int:
    price = await session.scalar(
        select(EsimPriceRow.price_cents).where(
            EsimPriceRow.tenant_id == tenant_id, EsimPriceRow.product_offering_id == product_offering_id
        )
    )
    return int(price or 0)


async def set_price(session: AsyncSession, tenant_id: uuid.UUID, product_offering_id: str, price_cents: int) -> None:
    """What the tenant charges for an eSIM of that product (0 makes it free again)."""
    if price_cents < 0:
        raise BadRequest("price must not be negative")
    statement = insert(EsimPriceRow).values(
        tenant_id=tenant_id, product_offering_id=product_offering_id, price_cents=price_cents
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[EsimPriceRow.tenant_id, EsimPriceRow.product_offering_id],
            set_={"price_cents": statement.excluded.price_cents},
        )
    )


# ---------------------------------------------------------------- ordering


def poll_policy(settings: Settings) -> PollPolicy:
    return PollPolicy(
        fast_seconds=settings.esims_poll_seconds,
        fast_for_seconds=settings.esims_poll_fast_for_seconds,
        slow_seconds=settings.esims_poll_slow_seconds,
        deadline_seconds=settings.esims_poll_deadline_seconds,
    )


async def order(
    session: AsyncSession,
    client: Client,
    settings: Settings,
    principal: Principal,
    consumer: Consumer,
    name: str | None,
) -> uuid.UUID:
    """Starts the eSIM's workflow and waits until the order is placed (the eSIM is `pending`).
    Where the tenant charges for eSIMs the price is held on the consumer's wallet first: too
    little money is a 422 before any order. 1Global's refusal is a 502 with its message; the eSIM
    is then `provisioning_failed` and the hold voided."""
    esim_id = uuid.uuid4()
    product = settings.oneglobal_product_offering_id
    new = NewEsim(
        tenant_id=principal.tenant_id,
        consumer_profile_id=consumer.id,
        user_id=consumer.user_id,
        consumer_email=consumer.email,
        name=(name or "").strip() or "eSIM",
        product_offering_id=product,
        price_cents=await price_of(session, principal.tenant_id, product),
    )
    # Nothing is written here (the workflow writes the row): end the read-only transaction so the
    # request gives its database connection back while it waits for 1Global.
    await session.rollback()
    start = WithStartWorkflowOperation(
        ProvisionEsimWorkflow.run,
        ProvisionEsimInput(esim_id=esim_id, new=new, poll=poll_policy(settings)),
        id=esim_workflow_id(esim_id),
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    answer = client.execute_update_with_start_workflow(
        "order_placement", start_workflow_operation=start, result_type=OrderPlacement
    )
    try:
        placement: OrderPlacement = await asyncio.wait_for(answer, settings.esims_order_wait_seconds)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return esim_id  # 1Global is slow (retries under way): the eSIM is pending, the workflow carries on
    if placement.status == "insufficient_funds":
        raise InsufficientFunds()
    if placement.status != "placed":
        raise OneGlobalError(placement.message or "1Global refused the order")
    return esim_id


# ---------------------------------------------------------------- reads


def _owned_or_admin(principal: Principal) -> list[Any]:
    """Who sees an eSIM: its owner, or anyone of the tenant who may list all eSIMs."""
    if principal.can("esims.admin.list"):
        return []
    return [EsimRow.user_id == principal.user_id]


async def visible(session: AsyncSession, principal: Principal, esim_id: uuid.UUID) -> EsimRow:
    row: EsimRow | None = await session.scalar(
        repository.in_tenant(principal.tenant_id).where(EsimRow.id == esim_id, *_owned_or_admin(principal))
    )
    if row is None:
        raise EsimNotFound()
    return row


SORTABLE = {
    "createdAt": EsimRow.created_at,
    "name": EsimRow.name,
    "status": EsimRow.status,
    "iccid": EsimRow.iccid,
    "consumerEmail": EsimRow.consumer_email,
    "updatedAt": EsimRow.updated_at,
}


async def admin_list(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    search: str | None = None,
    sort_field: str | None = None,
    sort_dir: str | None = None,
    esim_id: uuid.UUID | None = None,
    consumer_id: uuid.UUID | None = None,
) -> tuple[int, list[EsimRow]]:
    order_by = sort_order(SORTABLE, sort_field, sort_dir, default="createdAt", default_dir="desc")
    query = repository.in_tenant(principal.tenant_id)
    if esim_id is not None:
        query = query.where(EsimRow.id == esim_id)
    if consumer_id is not None:
        query = query.where(EsimRow.consumer_profile_id == consumer_id)
    if search:
        pattern = f"%{search.strip()}%"
        query = query.where(
            or_(
                EsimRow.name.ilike(pattern),
                EsimRow.iccid.ilike(pattern),
                EsimRow.consumer_email.ilike(pattern),
                EsimRow.one_global_order_id.ilike(pattern),
                EsimRow.one_global_subscription_id.ilike(pattern),
                EsimRow.status.ilike(pattern),
            )
        )
    total, page = await page_of(session, query, params, order_by, EsimRow.id)
    rows = list(page.scalars().all())
    if esim_id is not None and not rows:
        raise EsimNotFound()
    return total, rows


async def mine(
    session: AsyncSession, principal: Principal, params: PageParams, status: str | None
) -> tuple[int, list[EsimRow]]:
    query = repository.in_tenant(principal.tenant_id).where(EsimRow.user_id == principal.user_id)
    if status:
        wanted = [s.strip().lower() for s in status.split(",") if s.strip()]
        unknown = set(wanted) - {s.value for s in EsimStatus}
        if unknown:
            raise BadRequest(f"Invalid query parameters: unknown status {', '.join(sorted(unknown))}")
        query = query.where(EsimRow.status.in_(wanted))
    total, page = await page_of(session, query, params, EsimRow.created_at.desc(), EsimRow.id)
    return total, list(page.scalars().all())


def usage_percent(used: int, total: int) -> float | None:
    return round(used * 100 / total, 1) if total else None


@dataclass(frozen=True)
class UsageSummary:
    total_used_bytes: int
    total_available_bytes: int | None
    data_limit_bytes: int | None
    active_esim_count: int


async def usage_summary(session: AsyncSession, principal: Principal) -> UsageSummary:
    """Over the caller's own active eSIMs."""
    used, total, limit, count = (
        await session.execute(
            select(
                func.coalesce(func.sum(EsimRow.used_bytes), 0),
                func.sum(EsimRow.total_bytes),
                func.sum(EsimRow.data_limit_bytes),
                func.count(),
            ).where(
                EsimRow.tenant_id == principal.tenant_id,
                EsimRow.user_id == principal.user_id,
                EsimRow.status.in_([s.value for s in ACTIVE]),
            )
        )
    ).one()
    available = max(int(total) - int(used), 0) if total is not None else None
    return UsageSummary(int(used), available, int(limit) if limit is not None else None, int(count))


@dataclass(frozen=True)
class UsageDay:
    date: date
    usage_bytes: int
    total_bytes: int  # cumulative bytes used by the end of the day


async def timeline(session: AsyncSession, row: EsimRow, today: date | None = None) -> list[UsageDay]:
    """The last 7 days (oldest first): each day's usage is the growth of the cumulative snapshot."""
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=TIMELINE_DAYS - 1)
    snapshots = await repository.usage_days(session, row.id, first, today)
    before = await session.scalar(
        select(EsimUsageDayRow.used_bytes)
        .where(EsimUsageDayRow.esim_id == row.id, EsimUsageDayRow.day < first)
        .order_by(EsimUsageDayRow.day.desc())
        .limit(1)
    )
    snapshots[today] = max(snapshots.get(today, 0), row.used_bytes)
    previous = int(before or 0)
    days = []
    for offset in range(TIMELINE_DAYS):
        day = first + timedelta(days=offset)
        cumulative = max(snapshots.get(day, previous), previous)
        days.append(UsageDay(day, cumulative - previous, cumulative))
        previous = cumulative
    return days


# ---------------------------------------------------------------- changes


async def rename(session: AsyncSession, principal: Principal, esim_id: uuid.UUID, name: str) -> None:
    name = name.strip()
    if not name:
        raise BadRequest("name must not be empty")
    row = await repository.get(session, principal.tenant_id, esim_id)
    if row is None:
        raise EsimNotFound()
    row.name = name[:255]
    await session.flush()


async def owned(session: AsyncSession, principal: Principal, esim_id: uuid.UUID) -> EsimRow:
    """Only the owner acts on the eSIM itself; anyone else gets 404, as for a missing one."""
    row = await repository.get(session, principal.tenant_id, esim_id)
    if row is None or row.user_id is None or row.user_id != principal.user_id:
        raise EsimNotFound()
    return row


async def set_home_zone(
    client: Client, settings: Settings, row: EsimRow, disabled: bool, request_id: uuid.UUID | None = None
) -> None:
    """Through 1Global (a short workflow whose activity calls it and records the result)."""
    if row.status not in SUBSCRIBED or not row.one_global_subscription_id:
        raise EsimNotReady(f"The eSIM is {row.status}: its home zone cannot be changed")
    try:
        await client.execute_workflow(
            EsimHomeZoneWorkflow.run,
            HomeZoneInput(esim_id=row.id, disabled=disabled),
            id=esim_home_zone_id(row.id, request_id or uuid.uuid4()),
            task_queue=settings.temporal_task_queue,
        )
    except WorkflowFailureError as exc:
        cause: BaseException | None = exc.cause
        while isinstance(cause, FailureError) and cause.cause is not None:
            cause = cause.cause
        raise OneGlobalError(cause.message if isinstance(cause, FailureError) else str(cause or exc))


# ---------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class StoredWebhook:
    row_id: uuid.UUID
    signal: EsimSignal
    esim_id: uuid.UUID | None
    signalled: bool

    @property
    def needs_signal(self) -> bool:
        """Known types of a known eSIM, not handed over yet (a replay of a signalled event is not)."""
        return self.esim_id is not None and not self.signalled and self.signal.type in f.KNOWN_EVENTS


async def store_webhook(session: AsyncSession, payload: dict[str, Any]) -> StoredWebhook:
    """Stores the raw event, once per vendor event id. The caller commits before anything else
    happens (the webhook route answers 2xx only after that commit)."""
    event_id, kind = str(payload["id"]), str(payload["type"])
    normalized = f.normalise_type(kind)
    row_id, _, signalled_at, esim = await repository.store_webhook(session, event_id, kind, normalized, payload)
    signal = EsimSignal(event_id=event_id, type=normalized, payload=payload)
    return StoredWebhook(row_id, signal, esim, signalled_at is not None)


async def route_webhook(session: AsyncSession, stored: StoredWebhook) -> StoredWebhook:
    """Finds the event's eSIM (by order, subscription or ICCID). Run after the event is committed:
    an eSIM that gets its ICCID meanwhile claims the committed event itself (see
    `repository.claim_unassigned_webhooks`), so an early event is never lost between the two."""
    if stored.esim_id is not None:
        return stored
    payload = stored.signal.payload
    esim = await repository.esim_for_vendor_keys(
        session,
        order_id=f.webhook_order_id(payload),
        subscription_id=f.webhook_subscription_id(payload),
        iccid=f.webhook_iccid(payload),
    )
    if esim is None:
        return stored
    await repository.mark_webhook(session, stored.row_id, esim, signalled=False)
    return replace(stored, esim_id=esim)


async def signal_webhook(client: Client, settings: Settings, stored: StoredWebhook) -> None:
    """Signal-with-start: a running workflow gets the event; an ended one (terminal eSIM) is
    started again just to record it."""
    assert stored.esim_id is not None
    await signal_esim(client, settings, stored.esim_id, stored.signal)


async def signal_esim(client: Client, settings: Settings, esim: uuid.UUID, signal: EsimSignal) -> None:
    await client.start_workflow(
        ProvisionEsimWorkflow.run,
        ProvisionEsimInput(esim_id=esim, poll=poll_policy(settings)),
        id=esim_workflow_id(esim),
        task_queue=settings.temporal_task_queue,
        start_signal="onglobal_event",
        start_signal_args=[signal],
    )


async def mark_signalled(session: AsyncSession, stored: StoredWebhook) -> None:
    await repository.mark_webhook(session, stored.row_id, stored.esim_id, signalled=True)


async def dispatch_webhook(
    sessionmaker: async_sessionmaker[AsyncSession], client: Client, settings: Settings, stored: StoredWebhook
) -> bool:
    """Hands a stored webhook to its eSIM's workflow: finds the eSIM (after the event is committed),
    signals, records that it did. False when there is nothing to signal (yet)."""
    async with sessionmaker() as session, session.begin():
        stored = await route_webhook(session, stored)
    if not stored.needs_signal:
        return False
    await signal_webhook(client, settings, stored)
    async with sessionmaker() as session, session.begin():
        await mark_signalled(session, stored)
    return True


SWEEP_WEBHOOKS_EVERY = timedelta(minutes=1)


async def ensure_webhook_sweep_schedule(client: Client, task_queue: str) -> ScheduleHandle:
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            EsimWebhookSweepWorkflow.run,
            SweepWebhooks(),
            id=esim_webhook_sweep_id(task_queue),
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=SWEEP_WEBHOOKS_EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=SWEEP_WEBHOOKS_EVERY),
    )
    return await ensure_schedule(client, esim_webhook_sweep_id(task_queue), schedule)


# ---------------------------------------------------------------- usage sync


async def sync_usage(
    client: Client, task_queue: str, *, tenant_id: uuid.UUID | None = None, days: int = TIMELINE_DAYS
) -> UsageSyncResult:
    """Reads 1Global's itemised usage into the timeline (every eSIM, or one tenant's). A plain
    async function for the scheduler's command-target registry; one run at a time per scope."""
    try:
        result: UsageSyncResult = await client.execute_workflow(
            EsimUsageSyncWorkflow.run,
            UsageSyncInput(tenant_id=tenant_id, days=days),
            id=esim_usage_sync_id(tenant_id),
            task_queue=task_queue,
        )
    except WorkflowAlreadyStartedError:
        return UsageSyncResult()
    return result


def total_pages(total: int, params: PageParams) -> int:
    return math.ceil(total / params.page_size)
