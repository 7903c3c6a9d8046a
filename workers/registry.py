"""Every workflow class and activity the worker runs, in one place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from engine.events.workflows import DomainEventDispatchWorkflow
from engine.mail.workflows import MailDeliveryWorkflow
from engine.outbox.workflows import OutboxSweepWorkflow
from engine.rules.workflows import RuleWebhookWorkflow
from engine.settings import Settings
from engine.workflows.workflows import WorkflowInstanceWorkflow
from workers.events import EventActivities
from workers.mail import MailActivities, Mailer
from workers.outbox import OutboxActivities
from workers.rules import RuleActivities
from workers.workflows import functions
from workers.workflows.implementations import WorkflowActivities
from workers.workflows.projection import ProjectionActivities

WORKFLOWS: Sequence[type] = (
    MailDeliveryWorkflow,
    WorkflowInstanceWorkflow,
    DomainEventDispatchWorkflow,
    RuleWebhookWorkflow,
    OutboxSweepWorkflow,
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
    return [
        mail.deliver,
        projection.project,
        engine_activities.load_definition,
        engine_activities.run_activity,
        events.dispatch,
        rules.call_webhook,
        outbox.sweep,
    ]


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
        **options,
    )
