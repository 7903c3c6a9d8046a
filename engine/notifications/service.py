"""Sending notifications (settings applied, e-mail through the mail outbox), a user's own
notifications (read, dismiss, restore, act), the notifications user-task events cause, and the
single-use tickets that open the live stream."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import service as auth
from engine.auth.schemas import Principal
from engine.db.models import NotificationRow, NotificationSettingsRow
from engine.errors import BadRequest, NotFound
from engine.mail import service as mail
from engine.notifications import repository
from engine.notifications.schemas import SEVERITIES, NotificationSettings, NotificationSpec


def now() -> datetime:
    return datetime.now(UTC)


async def send(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    user_ids: Iterable[uuid.UUID],
    spec: NotificationSpec,
    *,
    dedupe: str | None = None,
) -> list[uuid.UUID]:
    """One row per user of the tenant who has not turned this kind off; ids of the rows written.
    With `dedupe`, a second call with the same key writes nothing (a retried projection)."""
    if spec.severity not in SEVERITIES:
        raise BadRequest(f"severity must be one of {', '.join(SEVERITIES)}")
    recipients = await repository.users(session, tenant_id, user_ids)
    settings = await repository.settings_of(session, tenant_id, [u.id for u in recipients])
    rows: list[dict[str, Any]] = []
    mails: list[tuple[dict[str, Any], str]] = []
    for user in recipients:
        chosen = NotificationSettings.model_validate(settings.get(user.id) or {})
        if not chosen.delivers(spec.type):
            continue
        row = {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "organization_id": organization_id,
            "recipient": str(user.id),
            "recipient_user_id": user.id,
            "type": spec.type,
            "subject": spec.title,
            "message": spec.body or "",
            "title_key": spec.title_key,
            "body_key": spec.body_key,
            "title_variables": spec.title_variables,
            "body_variables": spec.body_variables,
            "icon": spec.icon,
            "severity": spec.severity,
            "actions": [a.model_dump(exclude_none=True) for a in spec.actions],
            "source_type": spec.source_module or "api",
            "source_module": spec.source_module,
            "source_entity_type": spec.source_entity_type,
            "source_entity_id": spec.source_entity_id,
            "link_href": spec.link_href,
            "data": spec.data,
            "dedupe_key": f"{dedupe}:{user.id}" if dedupe else None,
        }
        rows.append(row)
        if chosen.emails(spec.type):
            mails.append((row, user.email))
    if not rows:
        return []
    statement = insert(NotificationRow).on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
    written = set((await session.execute(statement.returning(NotificationRow.id), rows)).scalars())
    for row, email in mails:
        if row["id"] in written:
            # Delivered by the outbox (the sweeper hands stranded mail to Temporal).
            await mail.enqueue_once(
                session, recipient=email, subject=spec.title or spec.type, body=spec.body or spec.title or "",
                tenant_id=tenant_id, idempotency_key=f"notification:{row['id']}",
            )  # fmt: skip
    return [uuid.UUID(str(row["id"])) for row in rows if row["id"] in written]


# ---------------------------------------------------------------- a user's own notifications


async def get_own(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, notification_id: str
) -> NotificationRow:
    try:
        key = uuid.UUID(notification_id)
    except ValueError:
        raise NotFound("Notification not found")
    row = await session.get(NotificationRow, key, populate_existing=True)
    if row is None or row.tenant_id != tenant_id or row.recipient_user_id != user_id:
        raise NotFound("Notification not found")
    return row


def mark_read(row: NotificationRow) -> None:
    if row.status == "unread":
        row.status, row.read_at = "read", now()


def dismiss(row: NotificationRow) -> None:
    row.status, row.dismissed_at = "dismissed", now()


def restore(row: NotificationRow) -> None:
    row.status, row.dismissed_at = ("read" if row.read_at else "unread"), None


def take_action(row: NotificationRow, action_id: str) -> dict[str, Any]:
    action = next((a for a in row.actions or [] if isinstance(a, Mapping) and a.get("id") == action_id), None)
    if action is None:
        raise BadRequest(f"Unknown action '{action_id}'")
    row.action_taken, row.action_taken_at = action_id, now()
    mark_read(row)
    return dict(action)


async def mark_all_read(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
    result = await session.execute(
        update(NotificationRow)
        .where(
            NotificationRow.tenant_id == tenant_id,
            NotificationRow.recipient_user_id == user_id,
            NotificationRow.status == "unread",
        )
        .values(status="read", read_at=now())
        .returning(NotificationRow.id)
    )
    return len(result.all())


async def get_settings(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> NotificationSettings:
    found = await repository.settings_of(session, tenant_id, [user_id])
    return NotificationSettings.model_validate(found.get(user_id) or {})


async def save_settings(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, settings: NotificationSettings
) -> NotificationSettings:
    values = {"id": uuid.uuid4(), "tenant_id": tenant_id, "user_id": user_id, "settings": settings.model_dump()}
    statement = insert(NotificationSettingsRow).values(values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id", "user_id"], set_={"settings": statement.excluded.settings, "updated_at": now()}
        )
    )
    return settings


# ---------------------------------------------------------------- from user-task events

TASK_LINK = "/inbox?task={task_id}"


def _task_spec(kind: str, title: str, data: Mapping[str, Any], severity: str = "info") -> NotificationSpec:
    task_id = str(data.get("taskId") or data.get("userTaskId"))
    actions = [{"id": "open", "label": "Open task", "href": TASK_LINK.format(task_id=task_id)}]
    if kind in ("task.assigned", "task.escalated"):
        actions.append({"id": "claim", "label": "Claim"})
    return NotificationSpec.model_validate(
        {"type": kind, "title": title, "body": str(data.get("taskName") or ""), "severity": severity,
         "actions": actions, "source_module": "workflows", "source_entity_type": "user_task",
         "source_entity_id": task_id, "link_href": TASK_LINK.format(task_id=task_id)}
    )  # fmt: skip


def _uuids(values: Iterable[Any]) -> list[uuid.UUID]:
    out = []
    for value in values:
        try:
            out.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return out


async def _people(
    session: AsyncSession, tenant_id: uuid.UUID, users: Iterable[Any], roles: Iterable[Any]
) -> list[uuid.UUID]:
    found = set(_uuids(v for v in users if v))
    found |= set(await repository.role_members(session, tenant_id, names=[str(r) for r in roles if r]))
    return sorted(found)


async def from_task_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    instance_id: uuid.UUID,
    events: Sequence[tuple[int, str, Mapping[str, Any], str | None]],
) -> None:
    """Notifications the instance's task events cause, in the projection's transaction; each is
    keyed by the event's seq, so a replayed projection writes it once. `events`: (seq, type,
    data, acting user)."""
    for seq, event_type, data, actor in events:
        recipients: list[uuid.UUID] = []
        spec: NotificationSpec | None = None
        after: Mapping[str, Any] = data.get("after") or {}
        before: Mapping[str, Any] = data.get("before") or {}
        if event_type == "USER_TASK_CREATED":
            spec = _task_spec("task.assigned", "New task", data)
            recipients = await _people(session, tenant_id, [data.get("assignedTo")], data.get("assignedToRoles") or [])
        elif event_type == "USER_TASK_REASSIGNED":
            spec = _task_spec("task.assigned", "Task assigned to you", data)
            recipients = await _people(
                session, tenant_id, [after.get("assignedTo")], after.get("assignedToRoles") or []
            )
        elif event_type == "USER_TASK_STARTED":
            spec = _task_spec("task.claimed", "Your task was claimed by someone else", data)
            recipients = _uuids([before.get("assignedTo")] if before.get("assignedTo") else [])
        elif event_type == "USER_TASK_ESCALATED":
            spec = _task_spec("task.escalated", "Task escalated", data, "warning")
            if data.get("action") == "notify":
                recipients = await _people(
                    session, tenant_id, data.get("notifyUsers") or [], data.get("notifyRoles") or []
                )
            else:
                target = data.get("escalatedTo") or after.get("assignedTo")
                recipients = await _people(
                    session, tenant_id, [target], [] if target else after.get("assignedToRoles") or []
                )
        elif event_type == "USER_TASK_SLA_BREACHED":
            spec = _task_spec("task.sla_breached", "Task is past its due date", data, "warning")
            holder = data.get("claimedBy") or data.get("assignedTo")
            recipients = await _people(
                session, tenant_id, [holder], [] if holder else data.get("assignedToRoles") or []
            )
        if spec is None:
            continue
        recipients = [r for r in recipients if str(r) != actor]  # not to the one who did it
        if recipients:
            await send(session, tenant_id, organization_id, recipients, spec, dedupe=f"wf:{instance_id}:{seq}")


# ---------------------------------------------------------------- stream tickets

STREAM_TICKET_LIFETIME = timedelta(seconds=30)


def _ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


async def issue_stream_ticket(session: AsyncSession, principal: Principal) -> tuple[str, datetime]:
    """A ticket that opens `GET /events/stream?ticket=` once, within `STREAM_TICKET_LIFETIME`, for
    this user in this tenant (a URL may be logged by proxies: what it carries must be worthless
    soon after). Only its hash is stored. Returns (ticket, expires at)."""
    if principal.user_id is None:
        raise BadRequest("Stream tickets belong to users; an API key sends its key in the header")
    ticket = secrets.token_urlsafe(32)
    expires_at = await repository.add_stream_ticket(
        session, _ticket_hash(ticket), principal.tenant_id, principal.user_id, principal.session_id,
        STREAM_TICKET_LIFETIME,
    )  # fmt: skip
    return ticket, expires_at


async def redeem_stream_ticket(session: AsyncSession, ticket: str) -> Principal | None:
    """Who the ticket was issued to, as on their next request, or None when it is unknown, used,
    expired, or its user, tenant or sign-in session is no longer active. Using it deletes it: the
    caller commits before it streams."""
    taken = await repository.take_stream_ticket(session, _ticket_hash(ticket))
    if taken is None:
        return None
    user = await repository.signed_in_user(session, taken.tenant_id, taken.user_id, taken.session_id)
    return None if user is None else await auth.principal_for_user(session, user, taken.session_id)
