"""Every Temporal workflow and schedule id, built from business keys in this one module, so a
double submit is deduplicated by Temporal and a newcomer finds each id's shape in one place.
Pure (workflow code imports it: a child workflow's id is built here too)."""

from __future__ import annotations

import uuid


def workflow_instance_id(instance_id: uuid.UUID | str) -> str:
    """A workflow-engine instance (also a sub-workflow's child id): `wf-<instance uuid>`."""
    return f"wf-{instance_id}"


def event_dispatch_id(event_id: uuid.UUID) -> str:
    """The dispatch of one stored domain event: a second hand-in is a no-op."""
    return f"event-{event_id}"


def rule_webhook_id(key: uuid.UUID) -> str:
    """A rule's CALL_WEBHOOK delivery (also its idempotency key)."""
    return f"rule-webhook-{key}"


def mail_delivery_id(outbox_id: uuid.UUID) -> str:
    return f"mail-{outbox_id}"


def outbox_sweep_id(task_queue: str) -> str:
    """The sweep schedule's id (and its workflows' id prefix): per task queue, because several
    deployments may share a namespace."""
    return f"outbox-sweep-{task_queue}"
