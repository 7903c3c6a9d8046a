"""Business rules (reference §3.1): rules, rule sets and their members and execution logs (the
notifications the NOTIFY action writes are in `notifications`). `ruleId`/`setId` are unique per tenant among live rows,
so a soft-deleted key can be reused."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, Timestamps, UUIDPk, utcnow


class BusinessRuleRow(UUIDPk, Timestamps, Base):
    __tablename__ = "business_rules"
    __table_args__ = (
        Index(
            "uq_business_rules_live_rule_id",
            "tenant_id",
            "rule_id",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # Discovery: tenant + entity type (+ event type) among live rules.
        Index(
            "ix_business_rules_discovery",
            "tenant_id",
            "entity_type",
            "event_type",
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    rule_id: Mapped[str] = mapped_column(String(50))
    rule_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    rule_type: Mapped[str] = mapped_column(String(20))
    rule_category: Mapped[str | None] = mapped_column(String(50), default=None)
    entity_type: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str | None] = mapped_column(String(50), default=None)
    # The condition exactly as given, the dialect it was given in ("jsonlogic" | "condition_tree"),
    # and the JsonLogic the engine evaluates (a condition tree's translation). Null = always true.
    condition_expression: Mapped[Any | None] = mapped_column(JSONB(none_as_null=True), default=None)
    condition_dialect: Mapped[str | None] = mapped_column(String(20), default=None)
    condition_logic: Mapped[Any | None] = mapped_column(JSONB(none_as_null=True), default=None)
    success_actions: Mapped[list[Any] | None] = mapped_column(default=None)
    failure_actions: Mapped[list[Any] | None] = mapped_column(default=None)
    enabled: Mapped[bool] = mapped_column(default=True)
    priority: Mapped[int] = mapped_column(default=100)
    version: Mapped[int] = mapped_column(default=1)
    effective_from: Mapped[datetime | None] = mapped_column(default=None)
    effective_to: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str | None] = mapped_column(String(100), default=None)
    updated_by: Mapped[str | None] = mapped_column(String(100), default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class RuleSetRow(UUIDPk, Timestamps, Base):
    __tablename__ = "rule_sets"
    __table_args__ = (
        Index(
            "uq_rule_sets_live_set_id",
            "tenant_id",
            "set_id",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    set_id: Mapped[str] = mapped_column(String(50))
    set_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str | None] = mapped_column(String(100), default=None)
    updated_by: Mapped[str | None] = mapped_column(String(100), default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class RuleSetMemberRow(UUIDPk, Base):
    __tablename__ = "rule_set_members"
    __table_args__ = (UniqueConstraint("rule_set_id", "rule_id"),)

    rule_set_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rule_sets.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("business_rules.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int] = mapped_column(default=0)
    enabled: Mapped[bool] = mapped_column(default=True)
    tenant_id: Mapped[uuid.UUID]
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class RuleExecutionLogRow(Base):
    __tablename__ = "rule_execution_logs"
    __table_args__ = (Index("ix_rule_execution_logs_tenant_executed", "tenant_id", "executed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("business_rules.id", ondelete="CASCADE"), index=True)
    entity_id: Mapped[str] = mapped_column(String(255), default="unknown")
    entity_type: Mapped[str] = mapped_column(String(255))
    execution_result: Mapped[str] = mapped_column(String(10))  # SUCCESS | FAILURE | ERROR
    input_context: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    output_context: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    execution_time_ms: Mapped[int] = mapped_column(default=0)
    executed_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    tenant_id: Mapped[uuid.UUID]
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    executed_by: Mapped[str | None] = mapped_column(String(255), default=None)
