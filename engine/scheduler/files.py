"""Jobs shipped as data: `definitions/schedules/*.json` (a job body as `POST /scheduler/jobs`
takes it, plus a fixed `id`), validated and applied by `covo definitions apply`. Applying again
changes nothing unless the file changed; the jobs get `sourceType: module`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from engine.db.models import ScheduledJobRow, Tenant
from engine.errors import DomainError
from engine.scheduler import service
from engine.scheduler.service import ShippedJob


def is_schedule(document: Any) -> bool:
    return isinstance(document, dict) and "scheduleType" in document


def parse(document: dict[str, Any]) -> tuple[ShippedJob | None, list[str]]:
    """The job a file describes, or its problems as `path: message`."""
    try:
        job = ShippedJob.model_validate({"sourceType": "module", "sourceModule": "definitions", **document})
    except ValidationError as exc:
        return None, [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()]
    problems = []
    if job.id is None:
        problems.append("id: a fixed job id (UUID) is required in a file")
    if job.scope_type == "organization":
        problems.append("scopeType: files hold system or tenant jobs")
    row = ScheduledJobRow(**job.model_dump(exclude={"id", "scope_type"}), scope_type=job.scope_type)
    try:
        service.validate_row(row)
    except DomainError as exc:
        problems.extend(
            f"{d['path']}: {d['message']}" for d in exc.extra.get("details", [{"path": "", "message": exc.message}])
        )
    return (job if not problems else None), problems


def load(path: Path) -> tuple[ShippedJob | None, list[str]]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, [f"(root): invalid JSON: {exc}"]
    if not isinstance(document, dict):
        return None, ["(root): a JSON object is expected"]
    return parse(document)


@dataclass(frozen=True)
class Applied:
    job_id: str
    name: str
    action: str  # created | updated | unchanged


COMPARED = tuple(f for f in ShippedJob.model_fields if f not in ("id", "scope_type"))


async def apply(
    session: AsyncSession, client: Client, tenant: Tenant | None, job: ShippedJob, task_queue: str
) -> Applied:
    assert job.id is not None
    tenant_id = None if job.scope_type == "system" or tenant is None else tenant.id
    row = await session.get(ScheduledJobRow, job.id, with_for_update=True)
    if row is None or row.deleted_at is not None:
        if row is not None:  # re-shipping a deleted job revives it
            await session.delete(row)
            await session.flush()
        created = await service.create_job(session, client, None, job, task_queue, tenant_id=tenant_id)
        return Applied(str(created.id), created.name, "created")
    wanted = job.model_dump(include=set(COMPARED))
    if all(getattr(row, key) == value for key, value in wanted.items()) and row.tenant_id == tenant_id:
        return Applied(str(row.id), row.name, "unchanged")
    for key, value in wanted.items():
        setattr(row, key, value)
    row.scope_type, row.tenant_id, row.organization_id = job.scope_type, tenant_id, None
    await service.save_changes(session, client, row, task_queue)
    return Applied(str(row.id), row.name, "updated")
