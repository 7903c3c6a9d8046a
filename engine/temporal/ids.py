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


SCHEDULE_PREFIX = "sched-"


def job_schedule_id(job_id: uuid.UUID) -> str:
    """A scheduled job's Temporal Schedule."""
    return f"{SCHEDULE_PREFIX}{job_id}"


def job_from_schedule_id(schedule_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(schedule_id.removeprefix(SCHEDULE_PREFIX)) if schedule_id.startswith(SCHEDULE_PREFIX) else None
    except ValueError:
        return None


def scheduled_run_prefix(job_id: uuid.UUID) -> str:
    """Id of the runs a job's schedule starts; Temporal appends each firing's scheduled time."""
    return f"sched-run-{job_id}"


def manual_run_id(job_id: uuid.UUID, run_id: uuid.UUID) -> str:
    return f"sched-run-{job_id}-manual-{run_id}"


def scheduled_sweep_id(idempotency_key: str) -> str:
    """An outbox sweep started by a scheduled job's firing."""
    return f"outbox-sweep-job-{idempotency_key}"


_INSTANCE_KEYS = uuid.UUID("6f0b8a52-6c1e-4c55-9a8e-3d1f2b7c9e01")


def instance_id_for_key(tenant_id: uuid.UUID, idempotency_key: str) -> uuid.UUID:
    """The instance id a start with an `Idempotency-Key` gets: the same key of the same tenant always
    names the same instance (and so the same workflow id), so a retried start re-attaches."""
    return uuid.uuid5(_INSTANCE_KEYS, f"{tenant_id}:{idempotency_key}")


def esim_workflow_id(esim: uuid.UUID) -> str:
    """The eSIM's `ProvisionEsim` workflow, from order to terminal status."""
    return f"esim-{esim}"


def esim_home_zone_id(esim: uuid.UUID, request: uuid.UUID) -> str:
    return f"esim-{esim}-home-zone-{request}"


def esim_webhook_sweep_id(task_queue: str) -> str:
    return f"esim-webhook-sweep-{task_queue}"


def esim_usage_sync_id(tenant_id: uuid.UUID | None) -> str:
    """One usage sync at a time per scope (every tenant, or one)."""
    return f"esim-usage-sync-{tenant_id or 'all'}"


def wallet_adjustment_id(tenant_id: uuid.UUID, idempotency_key: str) -> str:
    """Per tenant, so two tenants may use the same key."""
    return f"wallet-adj-{tenant_id}-{idempotency_key}"
