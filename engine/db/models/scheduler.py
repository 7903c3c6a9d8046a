from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, Timestamps, UUIDPk


class ScheduledJobRow(UUIDPk, Timestamps, Base):
    """A scheduled job. Every enabled, live row is mirrored by the Temporal Schedule
    `sched-<id>` (engine/scheduler/service.py keeps both in step; the reconciler repairs drift)."""

    __tablename__ = "scheduled_jobs"
    __table_args__ = (Index("ix_scheduled_jobs_tenant_live", "tenant_id", postgresql_where=text("deleted_at IS NULL")),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    scope_type: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    schedule_type: Mapped[str] = mapped_column(String(20))
    schedule_value: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(100), default="UTC")
    target_type: Mapped[str] = mapped_column(String(20))
    target_queue: Mapped[str | None] = mapped_column(String(200), default=None)
    target_command: Mapped[str | None] = mapped_column(String(200), default=None)
    target_payload: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    require_feature: Mapped[str | None] = mapped_column(String(200), default=None)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    # Written by each firing (lastRunAt) and on every change of spec or state (nextRunAt).
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    next_run_at: Mapped[datetime | None] = mapped_column(default=None)
    source_type: Mapped[str] = mapped_column(String(20), default="user")
    source_module: Mapped[str | None] = mapped_column(String(200), default=None)
    overlap_policy: Mapped[str] = mapped_column(String(20), default="SKIP")
    catchup_window_seconds: Mapped[int | None] = mapped_column(default=None)
    jitter_seconds: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    updated_by_user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class ScheduledJobRunRow(UUIDPk, Base):
    """One execution of a job (a firing or a manual trigger), written by its ScheduledJobRun workflow."""

    __tablename__ = "scheduled_job_runs"
    __table_args__ = (Index("ix_scheduled_job_runs_job_started", "job_id", "started_at"),)

    job_id: Mapped[uuid.UUID] = mapped_column()
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    # Job id + scheduled time (or + run id for a manual trigger): a retried firing finds its row.
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    workflow_id: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    trigger_type: Mapped[str] = mapped_column(String(20))
    triggered_by_user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    scheduled_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    duration_ms: Mapped[int | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    error_stack: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[Any | None] = mapped_column(JSONB, default=None)
