"""Notifications: a user's own (list, unread count, read, dismiss, restore, act, mark all read),
their settings, and sending to a user, a batch, a role's members or a feature's holders.
Tenant-scoped; a user only ever sees their own (anyone else's is 404)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import CurrentPrincipal, Res, Session, features_doc, require
from api.schemas.common import PositionedPage
from api.schemas.notifications import (
    ActionBody,
    ActionTaken,
    Counted,
    Created,
    CreatedMany,
    Notification,
    Ok,
    Settings,
    SettingsBody,
    StreamTicket,
    ToFeature,
    ToRole,
    ToUser,
    ToUsers,
    UnreadCount,
    notification,
    settings,
)
from engine.auth.schemas import Principal
from engine.clock import iso
from engine.db.models import NotificationRow
from engine.errors import BadRequest, NotFound
from engine.notifications import repository, service
from engine.notifications.schemas import NotificationSettings
from engine.pagination import PageParams, page_body, page_of
from engine.workflows import inbox

router = APIRouter(tags=["Notifications"])

Create = Annotated[Principal, Depends(require("notifications.create"))]
Manage = Annotated[Principal, Depends(require("notifications.manage"))]


def _user(principal: Principal) -> Any:
    if principal.user_id is None:
        raise BadRequest("Notifications belong to users; an API key has none")
    return principal.user_id


@router.get("/notifications", summary="List my notifications", response_model=PositionedPage[Notification])
async def list_notifications(
    principal: CurrentPrincipal,
    session: Session,
    status: Annotated[str | None, Query(description="unread, read, dismissed (comma-separated)")] = None,
    type: str | None = None,
    severity: str | None = None,
    source_entity_type: Annotated[str | None, Query(alias="sourceEntityType")] = None,
    source_entity_id: Annotated[str | None, Query(alias="sourceEntityId")] = None,
    since: datetime | None = None,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
) -> dict[str, Any]:
    """Newest first. Without `status`, dismissed notifications are left out."""
    params = PageParams(page=page, page_size=page_size)
    statuses = [s.strip().lower() for s in (status or "unread,read").split(",") if s.strip()]
    query = repository.listing(
        principal.tenant_id, _user(principal), statuses=statuses, kind=type, severity=severity,
        source_entity_type=source_entity_type, source_entity_id=source_entity_id, since=since,
    )  # fmt: skip
    total, rows = await page_of(session, query, params, NotificationRow.created_at.desc(), NotificationRow.id)
    return page_body([notification(r) for r in rows.scalars()], total, params)


@router.get(
    "/notifications/unread-count", summary="How many of my notifications are unread", response_model=UnreadCount
)
async def unread_count(principal: CurrentPrincipal, session: Session) -> UnreadCount:
    return UnreadCount(unreadCount=await repository.unread_count(session, principal.tenant_id, _user(principal)))


@router.put("/notifications/mark-all-read", summary="Mark all my notifications read", response_model=Counted)
async def mark_all_read(principal: CurrentPrincipal, session: Session) -> Counted:
    return Counted(count=await service.mark_all_read(session, principal.tenant_id, _user(principal)))


@router.post(
    "/notifications/stream-ticket",
    status_code=201,
    summary="A single-use ticket that opens the live event stream",
    response_model=StreamTicket,
    responses={400: {"description": "The caller is an API key (it sends its key in the header instead)"}},
)
async def stream_ticket(principal: CurrentPrincipal, session: Session) -> StreamTicket:
    """For clients that cannot set headers on `GET /events/stream` (a browser's EventSource): open
    the stream with `?ticket=` within 30 seconds (`expiresAt`). The ticket works once, for the
    caller in their tenant; a used, expired or unknown ticket is 401. Ask for a new one to reconnect."""
    ticket, expires_at = await service.issue_stream_ticket(session, principal)
    return StreamTicket(ticket=ticket, expiresAt=iso(expires_at))


@router.get(
    "/notifications/settings",
    summary="My notification settings",
    response_model=Settings,
    openapi_extra=features_doc("notifications.manage"),
)
async def get_settings(principal: Manage, session: Session) -> Settings:
    return settings(await service.get_settings(session, principal.tenant_id, _user(principal)))


@router.post(
    "/notifications/settings",
    status_code=201,
    summary="Save my notification settings",
    response_model=Settings,
    openapi_extra=features_doc("notifications.manage"),
)
async def save_settings(principal: Manage, session: Session, body: SettingsBody) -> Settings:
    """`disabledTypes`: kinds not delivered at all; `emailTypes`: kinds also sent by e-mail
    (`*` for every kind). Task kinds: `task.assigned`, `task.claimed`, `task.escalated`,
    `task.sla_breached`; rule actions: `rule.notify`."""
    chosen = NotificationSettings(disabled_types=body.disabled_types, email_types=body.email_types)
    return settings(await service.save_settings(session, principal.tenant_id, _user(principal), chosen))


async def _send(session: Any, principal: Principal, users: list[Any], body: Any) -> CreatedMany:
    ids = await service.send(session, principal.tenant_id, principal.organization_id, users, body.spec())
    return CreatedMany(count=len(ids), ids=[str(i) for i in ids])


@router.post(
    "/notifications",
    status_code=201,
    summary="Send a notification to a user",
    response_model=Created,
    openapi_extra=features_doc("notifications.create"),
    responses={404: {"description": "No such user in the tenant"}},
)
async def create(principal: Create, session: Session, body: ToUser) -> Created:
    if not await repository.users(session, principal.tenant_id, [body.recipient_user_id]):
        raise NotFound("Recipient not found")
    sent = await _send(session, principal, [body.recipient_user_id], body)
    if not sent.ids:
        raise BadRequest("The recipient has turned this kind of notification off")
    return Created(id=sent.ids[0])


@router.post(
    "/notifications/batch",
    status_code=201,
    summary="Send a notification to several users",
    response_model=CreatedMany,
    openapi_extra=features_doc("notifications.create"),
)
async def create_batch(principal: Create, session: Session, body: ToUsers) -> CreatedMany:
    """Users not in the tenant are skipped; `count` says how many were written."""
    return await _send(session, principal, list(body.recipient_user_ids), body)


@router.post(
    "/notifications/role",
    status_code=201,
    summary="Send a notification to a role's members",
    response_model=CreatedMany,
    openapi_extra=features_doc("notifications.create"),
    responses={404: {"description": "No such role in the tenant"}},
)
async def create_for_role(principal: Create, session: Session, body: ToRole) -> CreatedMany:
    if body.role_id is None and not body.role_name:
        raise BadRequest("Give roleId or roleName")
    if not await repository.role_exists(session, principal.tenant_id, body.role_name, body.role_id):
        raise NotFound("Role not found")
    members = await repository.role_members(
        session, principal.tenant_id, names=[body.role_name] if body.role_name else [],
        ids=[body.role_id] if body.role_id else [],
    )  # fmt: skip
    return await _send(session, principal, members, body)


@router.post(
    "/notifications/feature",
    status_code=201,
    summary="Send a notification to every holder of a feature",
    response_model=CreatedMany,
    openapi_extra=features_doc("notifications.create"),
)
async def create_for_feature(principal: Create, session: Session, body: ToFeature) -> CreatedMany:
    holders = await repository.feature_holders(session, principal.tenant_id, body.feature)
    return await _send(session, principal, holders, body)


@router.put("/notifications/{id}/read", summary="Mark a notification read", response_model=Ok)
async def read(id: str, principal: CurrentPrincipal, session: Session) -> Ok:
    service.mark_read(await service.get_own(session, principal.tenant_id, _user(principal), id))
    return Ok()


@router.put("/notifications/{id}/dismiss", summary="Dismiss a notification", response_model=Ok)
async def dismiss(id: str, principal: CurrentPrincipal, session: Session) -> Ok:
    service.dismiss(await service.get_own(session, principal.tenant_id, _user(principal), id))
    return Ok()


@router.put("/notifications/{id}/restore", summary="Restore a dismissed notification", response_model=Ok)
async def restore(id: str, principal: CurrentPrincipal, session: Session) -> Ok:
    service.restore(await service.get_own(session, principal.tenant_id, _user(principal), id))
    return Ok()


@router.post(
    "/notifications/{id}/action",
    status_code=201,
    summary="Take one of a notification's actions",
    response_model=ActionTaken,
    responses={
        400: {"description": "The notification has no such action"},
        403: {"description": "`claim` on a task the caller may not claim"},
        409: {"description": "`claim` on a task already claimed"},
    },
)
async def act(id: str, principal: CurrentPrincipal, session: Session, res: Res, body: ActionBody) -> ActionTaken:
    """Records the action taken (and marks the notification read); the answer carries the
    action's `href` for the client to follow. On a task notification, `claim` claims the task
    (with the task's own rules: 403 / 409 as `POST /workflows/tasks/{id}/claim`)."""
    row = await service.get_own(session, principal.tenant_id, _user(principal), id)
    action = service.take_action(row, body.action_id)
    if body.action_id == "claim" and row.source_entity_type == "user_task" and row.source_entity_id:
        task = await inbox.get_task(session, principal, row.source_entity_id)
        await inbox.send(await res.temporal_client(), task, "claim_task", inbox.command(principal, task))
    return ActionTaken(actionTaken=body.action_id, href=action.get("href"))
