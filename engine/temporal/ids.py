"""Workflow ids built from business keys, so a double submit is deduplicated by Temporal."""

from __future__ import annotations

import uuid


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
