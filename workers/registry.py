"""Every workflow class and activity the worker runs, in one place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from engine.esims.workflows import (
    EsimHomeZoneWorkflow,
    EsimUsageSyncWorkflow,
    EsimWebhookSweepWorkflow,
    ProvisionEsimWorkflow,
)
from engine.events.workflows import DomainEventDispatchWorkflow
from engine.mail.workflows import MailDeliveryWorkflow
from engine.outbox.workflows import OutboxSweepWorkflow
from engine.rules.workflows import RuleWebhookWorkflow
from engine.scheduler.workflows import ScheduledJobRunWorkflow
from engine.settings import Settings
from engine.wallet.workflows import WalletAdjustmentWorkflow
from engine.workflows.workflows import WorkflowInstanceWorkflow
from workers.esims import EsimActivities, EsimSweepActivities
from workers.events import EventActivities
from workers.mail import MailActivities, Mailer
from workers.onglobal.client import OneGlobalClient
from workers.outbox import OutboxActivities
from workers.rules import RuleActivities
from workers.scheduler import SchedulerActivities
from workers.wallet import WalletActivities
from workers.workflows import functions
from workers.workflows.implementations import WorkflowActivities
from workers.workflows.projection import ProjectionActivities

WORKFLOWS: Sequence[type] = (
    MailDeliveryWorkflow,
    WorkflowInstanceWorkflow,
    DomainEventDispatchWorkflow,
    RuleWebhookWorkflow,
    OutboxSweepWorkflow,
    ScheduledJobRunWorkflow,
    ProvisionEsimWorkflow,
    EsimHomeZoneWorkflow,
    EsimUsageSyncWorkflow,
    EsimWebhookSweepWorkflow,
    WalletAdjustmentWorkflow,
)


def build_activities(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, client: Client
) -> list[Callable[..., Any]]:
    functions.load_modules(settings.workflow_function_modules)
    mailer = Mailer(sessionmaker, settings)
    mail = MailActivities(mailer)
    projection = ProjectionActivities(sessionmaker)
    engine_activities = WorkflowActivities(sessionmaker, settings, client, mailer)
    events = EventActivities(sessionmaker, settings, client)
    rules = RuleActivities(settings)
    outbox = OutboxActivities(sessionmaker, settings, client)
    scheduler = SchedulerActivities(sessionmaker, settings, client)
    esims = EsimActivities(sessionmaker, settings, client, OneGlobalClient(settings))
    wallet = WalletActivities(sessionmaker)
    return [
        mail.deliver,
        projection.project,
        engine_activities.load_definition,
        engine_activities.run_activity,
        events.dispatch,
        rules.call_webhook,
        outbox.sweep,
        scheduler.begin_run,
        scheduler.run_target,
        scheduler.finish_run,
        esims.prepare,
        esims.hold_funds,
        esims.ensure_subscriber,
        esims.place_order,
        esims.check_order,
        esims.complete_order,
        esims.apply_event,
        esims.set_home_zone,
        esims.sync_usage,
        EsimSweepActivities(sessionmaker, settings, client).sweep_webhooks,
        wallet.adjust,
    ]


# Pollers that scale with the backlog instead of the SDK's fixed five. With the fixed five, the
# non-sticky/sticky ratio (0.2) leaves about one poller on the normal queue, where every new
# instance's first workflow task arrives; under 20 concurrent starts, tasks then waited in matching's
# backlog for up to 1.5 s (closed-loop p99 1,476 ms on the dev server vs 402 ms autoscaled, same
# machine and run: the `make bench` "queued" column). The bench's plain worker uses the same.
POLLING: dict[str, Any] = {
    "workflow_task_poller_behavior": PollerBehaviorAutoscaling(),
    "activity_task_poller_behavior": PollerBehaviorAutoscaling(),
}


def build_worker(
    client: Client, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], **options: Any
) -> Worker:
    """The worker exactly as production runs it (tests use this too, on their own task queue)."""
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=list(WORKFLOWS),
        activities=build_activities(sessionmaker, settings, client),
        # Our workflow modules import only pure code; passing `engine` through the sandbox keeps
        # it from re-importing pydantic models per run (an order of magnitude in throughput).
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("engine")
        ),
        graceful_shutdown_timeout=timedelta(seconds=25),
        **{**POLLING, **options},
    )
