"""`ProvisionEsim`: one workflow per eSIM (`esim-<id>`), from the order to a terminal status.

1. `prepare` writes the row (first run) or reads it (a run started by signal-with-start or
   continued as new).
2. A pending eSIM without an order: ensure the 1Global subscriber, place the
   `activate_subscription` order (Idempotency-Key = `esim-<id>`, so a retried or replayed activity
   cannot order twice). The `order_placement` update answers the API as soon as that is decided.
3. Wait for the order webhook (a signal) with a durable polling fallback; then `complete_order`
   reads the order and moves the row to `ready` (or `provisioning_failed`).
4. Follow the lifecycle: every other webhook is applied in arrival order by `apply_event`, which
   moves the row forward only. Lifecycle webhooks that arrive while the order is pending wait in
   the queue, so "installed" before "order completed" is not lost. A terminal status ends the
   workflow; a long life continues as new.

Deterministic: imports contracts and pure logic only."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from engine.esims import activities as act
from engine.esims.onglobal_fields import ORDER_EVENTS
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
    OrderPlacement,
    PlaceOrderResult,
    PrepareEsim,
    ProvisionEsimInput,
    ProvisionEsimResult,
    SweepWebhooks,
    SweepWebhooksResult,
    UsageSyncInput,
    UsageSyncResult,
)
from engine.esims.state_machine import EsimStatus, Transition, is_terminal

REFUSED = "OneGlobalRefused"  # the activity error type of a 4xx other than 429 (not retried)
SEEN_KEPT = 500  # event ids carried over continue-as-new (duplicates are also no-ops in the DB)

VENDOR_CALL = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=[REFUSED],
)
# Vendor-calling activities heartbeat every second: a dead worker is noticed after this.
HEARTBEAT = timedelta(seconds=5)
DURABLE = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60))


def _vendor_message(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)


@workflow.defn(name="ProvisionEsim")
class ProvisionEsimWorkflow:
    def __init__(self) -> None:
        self.placement: OrderPlacement | None = None
        self.order_transition: Transition | None = None
        self.order_event_id: str | None = None
        self.events: list[EsimSignal] = []
        self.seen: list[str] = []

    @workflow.signal(name="onglobal_event")
    def on_event(self, signal: EsimSignal) -> None:
        if signal.event_id in self.seen:
            return  # a redelivery that reached us twice
        self.seen.append(signal.event_id)
        transition = ORDER_EVENTS.get(signal.type)
        if transition is not None:
            if self.order_transition is None:
                self.order_transition, self.order_event_id = transition, signal.event_id
            return
        self.events.append(signal)

    @workflow.update(name="order_placement")
    async def order_placement(self) -> OrderPlacement:
        """Answers once the order is placed or refused (the API's 201 / 502)."""
        await workflow.wait_condition(lambda: self.placement is not None)
        assert self.placement is not None
        return self.placement

    @workflow.run
    async def run(self, request: ProvisionEsimInput) -> ProvisionEsimResult:
        self.seen = list(request.seen_event_ids)
        self.events = list(request.pending_events) + self.events
        state: EsimState = await workflow.execute_activity(
            act.PREPARE,
            PrepareEsim(esim_id=request.esim_id, new=request.new),
            result_type=EsimState,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DURABLE,
        )
        if not state.exists:
            self.placement = OrderPlacement(status="refused", message="eSIM not found")
            return await self._finish("missing")
        status = state.status
        if status == EsimStatus.PENDING:
            status = await self._provision(request, state)
        else:
            self.placement = OrderPlacement(status="placed", order_id=state.order_id)

        while not is_terminal(status):
            await workflow.wait_condition(lambda: bool(self.events) or workflow.info().is_continue_as_new_suggested())
            if not self.events:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    ProvisionEsimInput(
                        esim_id=request.esim_id, poll=request.poll, seen_event_ids=self.seen[-SEEN_KEPT:]
                    )
                )
            status = (await self._apply(request, self.events.pop(0))).status
        # Late events for an eSIM that has ended are recorded (and ignored) too.
        while self.events:
            await self._apply(request, self.events.pop(0))
        return await self._finish(status)

    async def _finish(self, status: str) -> ProvisionEsimResult:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ProvisionEsimResult(status=status)

    async def _apply(self, request: ProvisionEsimInput, event: EsimSignal) -> AppliedEvent:
        result: AppliedEvent = await workflow.execute_activity(
            act.APPLY_EVENT,
            ApplyEvent(esim_id=request.esim_id, event=event),
            result_type=AppliedEvent,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=DURABLE,
        )
        return result

    async def _provision(self, request: ProvisionEsimInput, state: EsimState) -> str:
        ref = EsimRef(esim_id=request.esim_id)
        order_id = state.order_id
        if order_id is None and state.price_cents > 0:
            # Saga: the money is held before anything is ordered; posted on ready, voided on failure.
            funds: HoldOutcome = await workflow.execute_activity(
                act.HOLD_FUNDS,
                ref,
                result_type=HoldOutcome,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=DURABLE,
            )
            if not funds.held:
                self.placement = OrderPlacement(status="insufficient_funds", message=funds.message)
                return "removed"  # the activity removed the row: nothing was ordered
        if order_id is None:
            try:
                await workflow.execute_activity(
                    act.ENSURE_SUBSCRIBER,
                    ref,
                    start_to_close_timeout=timedelta(seconds=60),
                    heartbeat_timeout=HEARTBEAT,
                    retry_policy=VENDOR_CALL,
                )
                placed: PlaceOrderResult = await workflow.execute_activity(
                    act.PLACE_ORDER,
                    ref,
                    result_type=PlaceOrderResult,
                    start_to_close_timeout=timedelta(seconds=60),
                    heartbeat_timeout=HEARTBEAT,
                    retry_policy=VENDOR_CALL,
                )
            except ActivityError as error:
                message = _vendor_message(error)
                # Marked failed (hold voided) before the API hears of it: nothing stays half-created.
                status = await self._complete(request, Transition.ORDER_CANCELED, reason=message)
                self.placement = OrderPlacement(status="refused", message=message)
                return status
            order_id = placed.order_id
        self.placement = OrderPlacement(status="placed", order_id=order_id)

        source = "webhook"
        started = workflow.now()
        poll = request.poll
        while self.order_transition is None:
            elapsed = (workflow.now() - started).total_seconds()
            remaining = poll.deadline_seconds - elapsed
            if remaining <= 0:
                return await self._complete(
                    request, Transition.ORDER_CANCELED, reason="1Global did not complete the order in time"
                )
            interval = poll.fast_seconds if elapsed < poll.fast_for_seconds else poll.slow_seconds
            try:
                await workflow.wait_condition(
                    lambda: self.order_transition is not None, timeout=timedelta(seconds=min(interval, remaining))
                )
            except TimeoutError:
                try:
                    check: OrderCheck = await workflow.execute_activity(
                        act.CHECK_ORDER,
                        ref,
                        result_type=OrderCheck,
                        start_to_close_timeout=timedelta(seconds=60),
                        heartbeat_timeout=HEARTBEAT,
                        retry_policy=RetryPolicy(maximum_attempts=2, non_retryable_error_types=[REFUSED]),
                    )
                except ActivityError:
                    continue  # 1Global is unwell: the next poll asks again
                if check.status == "completed":
                    self.order_transition, source = Transition.ORDER_COMPLETED, "poll"
                elif check.status == "canceled":
                    self.order_transition, source = Transition.ORDER_CANCELED, "poll"
        return await self._complete(request, self.order_transition, source=source, event_id=self.order_event_id)

    async def _complete(
        self,
        request: ProvisionEsimInput,
        transition: Transition,
        *,
        reason: str | None = None,
        source: str = "workflow",
        event_id: str | None = None,
    ) -> str:
        result: AppliedEvent = await workflow.execute_activity(
            act.COMPLETE_ORDER,
            CompleteOrder(
                esim_id=request.esim_id,
                transition=transition.value,
                reason=reason,
                source=source,
                event_id=event_id if source == "webhook" else None,
            ),
            result_type=AppliedEvent,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=DURABLE,
        )
        return result.status


@workflow.defn(name="EsimHomeZone")
class EsimHomeZoneWorkflow:
    """Turns the home zone on or off through 1Global, then records it on the row."""

    @workflow.run
    async def run(self, request: HomeZoneInput) -> None:
        await workflow.execute_activity(
            act.SET_HOME_ZONE,
            request,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=VENDOR_CALL,
        )


@workflow.defn(name="EsimUsageSync")
class EsimUsageSyncWorkflow:
    """Reads 1Global's itemised usage of the last days into the 7-day timeline (hourly, once the
    scheduler registers it as a command target)."""

    @workflow.run
    async def run(self, request: UsageSyncInput) -> UsageSyncResult:
        result: UsageSyncResult = await workflow.execute_activity(
            act.SYNC_USAGE,
            request,
            result_type=UsageSyncResult,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=5)),
        )
        return result


@workflow.defn(name="EsimWebhookSweep")
class EsimWebhookSweepWorkflow:
    """Hands stored webhooks that were never signalled (the API process died after answering,
    Temporal was down) to their eSIMs' workflows. Every minute, by a schedule ensured at worker
    start; signalling twice is harmless (the workflow and the event log de-duplicate by event id)."""

    @workflow.run
    async def run(self, request: SweepWebhooks) -> SweepWebhooksResult:
        result: SweepWebhooksResult = await workflow.execute_activity(
            act.SWEEP_WEBHOOKS,
            request,
            result_type=SweepWebhooksResult,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return result
