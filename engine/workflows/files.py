"""Definitions as files: `definitions/workflows/*.json`, validated and applied by the CLI."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth.schemas import Principal
from engine.clock import now
from engine.db.models import Tenant, WorkflowDefinitionRow
from engine.workflows import service
from engine.workflows.checker import ValidationIssue, check_document, validate_definition_document

COMPARED = ("workflowName", "description", "definition", "enabled", "metadata")


def definition_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return files


def load(path: Path) -> tuple[dict[str, Any] | None, list[ValidationIssue]]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, [{"code": "INVALID_JSON", "message": str(exc), "path": ""}]
    issues = validate_definition_document(document)
    return (document if not issues else None), issues


@dataclass(frozen=True)
class Applied:
    workflow_id: str
    action: str  # "created" | "unchanged"
    version: int


def _same(row: WorkflowDefinitionRow, document: dict[str, Any]) -> bool:
    current = {
        "workflowName": row.workflow_name,
        "description": row.description,
        "definition": row.definition,
        "enabled": row.enabled,
        "metadata": row.metadata_,
    }
    wanted = {key: document.get(key, True if key == "enabled" else None) for key in COMPARED}
    return current == wanted


async def resolve_tenant(session: AsyncSession, tenant: str | None) -> Tenant:
    query = select(Tenant).where(Tenant.deleted_at.is_(None))
    if tenant:
        try:
            query = query.where(Tenant.id == uuid.UUID(tenant))
        except ValueError:
            query = query.where(Tenant.name == tenant)
    row = await session.scalar(query.order_by(Tenant.created_at).limit(1))
    if row is None:
        raise LookupError(f"tenant {tenant or '(default)'} not found")
    return row


async def apply(session: AsyncSession, tenant: Tenant, document: dict[str, Any]) -> Applied:
    """Creates a new version only when the content differs from every stored version."""
    workflow_id = document["workflowId"]
    rows = (
        await session.scalars(
            select(WorkflowDefinitionRow).where(
                WorkflowDefinitionRow.tenant_id == tenant.id,
                WorkflowDefinitionRow.workflow_id == workflow_id,
                WorkflowDefinitionRow.deleted_at.is_(None),
            )
        )
    ).all()
    for row in rows:
        if _same(row, document):
            return Applied(workflow_id, "unchanged", row.version)
    version = max([int(document.get("version") or 1), *(r.version + 1 for r in rows)])
    system = Principal(
        kind="user",
        id=uuid.UUID(int=0),
        tenant_id=tenant.id,
        organization_id=None,
        features=("*",),
        is_super_admin=True,
    )
    fields = check_document({**document, "version": version}, now=now())
    row = await service.create_definition(session, system, fields)
    return Applied(workflow_id, "created", row.version)
