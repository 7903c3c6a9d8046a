"""Dispatching stored domain events to their subscribers: workflow definitions whose
`definition.triggers` match the event start an instance (reference §2.15).

Exactly once per (event, trigger): the pair is recorded in `side_effects` in the transaction that
inserts the started instance's row, so a retried dispatch activity (or a re-run of the dispatch
workflow) finds the record and starts nothing. The instant between starting the instance's
Temporal workflow and that commit is covered by a deterministic instance id (the
Temporal workflow id deduplicates the second start)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from engine.db.base import utcnow
from engine.db.models import DomainEventRow, SideEffectRow, WorkflowDefinitionRow
from engine.db.session import unit_of_work
from engine.errors import DomainError
from engine.events.activities import DISPATCH_EVENT
from engine.events.schemas import DispatchEvent, DispatchResult
from engine.rules import service as rules
from engine.settings import Settings
from engine.workflows import repository as workflow_repository
from engine.workflows import service as workflow_service
from engine.workflows import triggers
from engine.workflows.definition import WorkflowTrigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    workflow_id: str
    version: int
    trigger: WorkflowTrigger


def side_effect_key(event_id: uuid.UUID, workflow_id: str, trigger_id: str) -> str:
    # Trigger ids are unique only within a definition, so the workflow id is part of the key.
    return f"event:{event_id}:trigger:{workflow_id}:{trigger_id}"


def matching_triggers(event: DomainEventRow, definitions: list[WorkflowDefinitionRow]) -> list[Match]:
    """Every enabled trigger of the given definitions (one row per workflowId: the highest
    enabled version) that the event fires, highest priority first. An event emitted by an
    instance of a workflow never starts that same workflow (a cheap guard against self-loops)."""
    origin = event.payload.get("_workflow") if isinstance(event.payload, dict) else None
    emitter = origin.get("workflowId") if isinstance(origin, dict) else None
    matches = [
        Match(row.workflow_id, row.version, trigger)
        for row in definitions
        if row.workflow_id != emitter
        for trigger in triggers.parse_triggers(row.definition)
        if triggers.trigger_matches(trigger, event.name, event.payload)
    ]
    return sorted(matches, key=lambda m: -m.trigger.priority)


class EventActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, client: Client) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.client = client

    @activity.defn(name=DISPATCH_EVENT)
    async def dispatch(self, request: DispatchEvent) -> DispatchResult:
        async with self.sessionmaker() as session:
            event = await session.get(DomainEventRow, request.event_id)
            if event is None:
                # Emitters may hand the event in before their transaction commits: retry.
                raise ApplicationError(f"Domain event {request.event_id} is not (yet) stored")
            matches: list[Match] = []
            if not triggers.is_ignored_event(event.name):
                matches = matching_triggers(event, await workflow_repository.live_definitions(session, event.tenant_id))
        counts = {"matched": len(matches), "started": 0, "duplicate": 0, "limited": 0, "failed": 0}
        retry_later: list[str] = []
        for match in matches:
            try:
                outcome = await self._start(event, match)
            except DomainError as exc:
                # The definition cannot start (invalid, disabled meanwhile): retrying won't help.
                log.warning("Trigger %s/%s failed for event %s: %s", match.workflow_id,
                            match.trigger.trigger_id, event.id, exc.message)  # fmt: skip
                await self._record(event.id, match, {"outcome": "failed", "error": exc.message})
                outcome = "failed"
            except Exception as exc:  # infrastructure trouble: the other triggers still run
                log.exception("Trigger %s/%s failed for event %s", match.workflow_id, match.trigger.trigger_id,
                              event.id)  # fmt: skip
                retry_later.append(f"{match.workflow_id}/{match.trigger.trigger_id}: {exc}")
                continue
            counts[outcome] += 1
        if retry_later:
            # Already-started triggers are recorded; the retried attempt only does the rest.
            raise ApplicationError("Dispatch incomplete: " + "; ".join(retry_later))
        # Business rules subscribed to this event (entityType/eventType from its name); the key
        # makes a retried dispatch run them once.
        async with unit_of_work(self.sessionmaker) as session:
            counts["rules"] = await rules.run_for_event(
                session, self.client, self.settings.temporal_task_queue, tenant_id=event.tenant_id,
                organization_id=event.organization_id, event_name=event.name, payload=event.payload,
                idempotency_key=f"event:{event.id}:rules",
            )  # fmt: skip
        async with self.sessionmaker() as session, session.begin():
            row = await session.get(DomainEventRow, request.event_id)
            if row is not None and row.dispatched_at is None:
                row.dispatched_at = utcnow()
        return DispatchResult(handled=counts)

    async def _record(self, event_id: uuid.UUID, match: Match, result: dict[str, Any]) -> None:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                insert(SideEffectRow)
                .values(
                    idempotency_key=side_effect_key(event_id, match.workflow_id, match.trigger.trigger_id),
                    kind="EVENT_TRIGGER",
                    result=result,
                )
                .on_conflict_do_nothing()
            )

    async def _start(self, event: DomainEventRow, match: Match) -> str:
        """Starts one instance for one matched trigger, unless this pair was handled before or the
        workflow is at its concurrency limit. One transaction: the ledger row, the limit check
        (serialized per tenant + workflowId by an advisory lock) and the instance row."""
        trigger = match.trigger
        key = side_effect_key(event.id, match.workflow_id, trigger.trigger_id)
        async with self.sessionmaker() as session, session.begin():
            claimed = await session.scalar(
                insert(SideEffectRow)
                .values(idempotency_key=key, kind="EVENT_TRIGGER", result={"outcome": "pending"})
                .on_conflict_do_nothing()
                .returning(SideEffectRow.idempotency_key)
            )
            if claimed is None:
                return "duplicate"
            limit = trigger.config.max_concurrent_instances
            active = await workflow_service.concurrency_limit_reached(
                session, event.tenant_id, match.workflow_id, limit
            )
            if active is not None:
                await self._set_result(session, key, {"outcome": "limited", "active": active, "limit": limit})
                return "limited"
            metadata = triggers.instance_metadata(trigger, event.payload, event.name)
            initiated_by = metadata.pop("initiatedBy")
            row = await workflow_service.start_instance(
                session, self.client, tenant_id=event.tenant_id, organization_id=event.organization_id,
                workflow_id=match.workflow_id, version=match.version,
                context=triggers.initial_context(trigger, event.name, event.payload, utcnow()),
                correlation_key=None, metadata=metadata, initiated_by=initiated_by,
                task_queue=self.settings.temporal_task_queue, env=workflow_service.template_env(self.settings),
                # Same event + trigger, same instance: a retry after a failed commit re-attaches to
                # the workflow the first attempt started instead of starting a second one.
                instance_id=uuid.uuid5(event.id, key),
            )  # fmt: skip
            await self._set_result(session, key, {"outcome": "started", "instanceId": str(row.id)})
        return "started"

    @staticmethod
    async def _set_result(session: AsyncSession, key: str, result: dict[str, Any]) -> None:
        ledger = await session.get(SideEffectRow, key)
        assert ledger is not None
        ledger.result = result
