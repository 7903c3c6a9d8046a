"""Workflow ids built from business keys, so a double submit is deduplicated by Temporal."""

from __future__ import annotations

import uuid


def mail_delivery_id(outbox_id: uuid.UUID) -> str:
    return f"mail-{outbox_id}"


def outbox_sweep_id(task_queue: str) -> str:
    """The sweep schedule's id (and its workflows' id prefix): per task queue, because several
    deployments may share a namespace."""
    return f"outbox-sweep-{task_queue}"


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
