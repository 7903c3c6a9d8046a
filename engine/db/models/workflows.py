"""Workflow definitions (configuration, written by the API) and the execution read model
(instances, step instances, user tasks, events) written only by each instance's own Temporal
workflow through its projection activity. `projection_seq` makes those writes idempotent and
order-proof: a row only moves forward."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, Timestamps, UUIDPk


class WorkflowDefinitionRow(UUIDPk, Timestamps, Base):
    __tablename__ = "workflow_definitions"
    __table_args__ = (
        Index(
            "uq_workflow_definitions_live_version",
            "tenant_id",
            "workflow_id",
            "version",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    workflow_id: Mapped[str] = mapped_column(String(100))
    workflow_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    version: Mapped[int] = mapped_column(default=1)
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", default=None)
    enabled: Mapped[bool] = mapped_column(default=True)
    effective_from: Mapped[datetime | None] = mapped_column(default=None)
    effective_to: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str | None] = mapped_column(String(100), default=None)
    updated_by: Mapped[str | None] = mapped_column(String(100), default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class WorkflowInstanceRow(UUIDPk, Timestamps, Base):
    __tablename__ = "workflow_instances"
    __table_args__ = (
        Index("ix_workflow_instances_tenant_created", "tenant_id", "created_at"),
        Index("ix_workflow_instances_tenant_correlation", "tenant_id", "correlation_key"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(index=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    definition_id: Mapped[uuid.UUID] = mapped_column(index=True)
    workflow_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int]
    status: Mapped[str] = mapped_column(String(30))
    current_step_id: Mapped[str | None] = mapped_column(String(100), default=None)
    previous_step_id: Mapped[str | None] = mapped_column(String(100), default=None)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    correlation_key: Mapped[str | None] = mapped_column(String(255), default=None)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    paused_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    error_details: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    pending_transition: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    active_fork_step_id: Mapped[str | None] = mapped_column(String(100), default=None)
    retry_count: Mapped[int] = mapped_column(default=0)
    parent_instance_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    projection_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class StepInstanceRow(UUIDPk, Timestamps, Base):
    __tablename__ = "step_instances"

    workflow_instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflow_instances.id", ondelete="CASCADE"), index=True
    )
    branch_key: Mapped[str | None] = mapped_column(String(100), default=None)
    step_id: Mapped[str] = mapped_column(String(100))
    step_name: Mapped[str] = mapped_column(String(255))
    step_type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    input_data: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    output_data: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error_data: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    entered_at: Mapped[datetime | None] = mapped_column(default=None)
    exited_at: Mapped[datetime | None] = mapped_column(default=None)
    execution_time_ms: Mapped[int | None] = mapped_column(default=None)
    retry_count: Mapped[int] = mapped_column(default=0)
    tenant_id: Mapped[uuid.UUID]
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    projection_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class UserTaskRow(UUIDPk, Timestamps, Base):
    __tablename__ = "user_tasks"
    __table_args__ = (
        Index("ix_user_tasks_tenant_status", "tenant_id", "status"),
        # The inbox (myTasks): assigned to me, claimed by me, or in my roles' queue, found by a
        # BitmapOr of these three. No (tenant, due_date) index on purpose: with one, a generic
        # plan may walk the whole tenant in due-date order looking for the user's few tasks.
        Index("ix_user_tasks_tenant_assigned_to", "tenant_id", "assigned_to"),
        Index("ix_user_tasks_tenant_claimed_by", "tenant_id", "claimed_by"),
        # fastupdate off: a pending list would be scanned linearly on every inbox query until
        # the next vacuum (measured: 60 ms instead of 0.5 ms with 100,000 tasks).
        Index(
            "ix_user_tasks_roles", "assigned_to_roles", postgresql_using="gin", postgresql_with={"fastupdate": "off"}
        ),
    )

    workflow_instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflow_instances.id", ondelete="CASCADE"), index=True
    )
    step_instance_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    branch_key: Mapped[str | None] = mapped_column(String(100), default=None)
    task_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(20))
    form_schema: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    form_data: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    assigned_to: Mapped[str | None] = mapped_column(String(255), default=None)
    assigned_to_roles: Mapped[list[Any] | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(255), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    due_date: Mapped[datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    escalated_to: Mapped[str | None] = mapped_column(String(255), default=None)
    completed_by: Mapped[str | None] = mapped_column(String(255), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    comments: Mapped[str | None] = mapped_column(Text, default=None)
    priority: Mapped[int | None] = mapped_column(default=None)
    # The Idempotency-Key the task was completed with: a retry with it gets the same answer.
    completion_key: Mapped[str | None] = mapped_column(String(255), default=None)
    tenant_id: Mapped[uuid.UUID]
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    projection_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class WorkflowEventRow(Base):
    __tablename__ = "workflow_events"
    __table_args__ = (
        # The workflow numbers its events; a replayed or retried projection write is a no-op.
        UniqueConstraint("workflow_instance_id", "seq"),
        Index("ix_workflow_events_tenant_occurred", "tenant_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    workflow_instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflow_instances.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    step_instance_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    branch_key: Mapped[str | None] = mapped_column(String(100), default=None)
    event_type: Mapped[str] = mapped_column(String(50))
    event_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime]
    user_id: Mapped[str | None] = mapped_column(String(255), default=None)
    tenant_id: Mapped[uuid.UUID]
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class SideEffectRow(Base):
    """Idempotency ledger for activity side effects: an activity records its key in the same
    transaction as its effect, so a retried or replayed attempt finds it and does nothing."""

    __tablename__ = "side_effects"

    idempotency_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
