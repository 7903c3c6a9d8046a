"""Request bodies and answers of the notification routes (field names as in the contract)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Body
from engine.clock import iso_or_none
from engine.db.models import NotificationRow
from engine.notifications.schemas import NotificationAction, NotificationSettings, NotificationSpec


class _Request(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class NotificationBody(_Request):
    """What the notification says; `type` is a kind users can turn off or have e-mailed."""

    type: str = Field(min_length=1, max_length=100)
    title: str | None = Field(None, max_length=500)
    body: str | None = Field(None, max_length=10_000)
    title_key: str | None = Field(None, alias="titleKey", max_length=200)
    body_key: str | None = Field(None, alias="bodyKey", max_length=200)
    title_variables: dict[str, Any] | None = Field(None, alias="titleVariables")
    body_variables: dict[str, Any] | None = Field(None, alias="bodyVariables")
    icon: str | None = Field(None, max_length=100)
    severity: str = Field("info", pattern="^(info|success|warning|error)$")
    actions: list[NotificationAction] = Field(default_factory=list, max_length=10)
    source_module: str | None = Field(None, alias="sourceModule", max_length=100)
    source_entity_type: str | None = Field(None, alias="sourceEntityType", max_length=100)
    source_entity_id: str | None = Field(None, alias="sourceEntityId", max_length=100)
    link_href: str | None = Field(None, alias="linkHref", max_length=500)

    def spec(self) -> NotificationSpec:
        return NotificationSpec.model_validate(self.model_dump(exclude={"recipient_user_id", "recipient_user_ids",
                                                                        "role_id", "role_name", "feature"}))  # fmt: skip


class ToUser(NotificationBody):
    recipient_user_id: uuid.UUID = Field(alias="recipientUserId")


class ToUsers(NotificationBody):
    recipient_user_ids: list[uuid.UUID] = Field(alias="recipientUserIds", min_length=1, max_length=1000)


class ToRole(NotificationBody):
    """The members of a role, by `roleId` or `roleName`."""

    role_id: uuid.UUID | None = Field(None, alias="roleId")
    role_name: str | None = Field(None, alias="roleName", max_length=100)


class ToFeature(NotificationBody):
    """Every user of the tenant who holds `requiredFeature`."""

    feature: str = Field(alias="requiredFeature", min_length=1, max_length=200)


class ActionBody(_Request):
    action_id: str = Field(alias="actionId", min_length=1, max_length=100)


class SettingsBody(_Request):
    disabled_types: list[str] = Field(default_factory=list, alias="disabledTypes", max_length=100)
    email_types: list[str] = Field(default_factory=list, alias="emailTypes", max_length=100)


class Action(Body):
    id: str
    label: str
    href: str | None = None


class Notification(Body):
    id: str
    type: str
    title: str | None
    body: str | None
    titleKey: str | None
    bodyKey: str | None
    titleVariables: dict[str, Any] | None
    bodyVariables: dict[str, Any] | None
    icon: str | None
    severity: str
    status: str
    actions: list[Action]
    sourceModule: str | None
    sourceEntityType: str | None
    sourceEntityId: str | None
    linkHref: str | None
    createdAt: str
    readAt: str | None
    actionTaken: str | None


class Created(Body):
    id: str


class CreatedMany(Body):
    count: int
    ids: list[str]


class Counted(Body):
    ok: bool = True
    count: int


class UnreadCount(Body):
    unreadCount: int


class Ok(Body):
    ok: bool = True


class ActionTaken(Body):
    ok: bool = True
    actionTaken: str
    href: str | None


class StreamTicket(Body):
    """Opens `GET /events/stream?ticket=` once, until `expiresAt`."""

    ticket: str
    expiresAt: str


class Settings(Body):
    disabledTypes: list[str]
    emailTypes: list[str]


def _iso(value: Any) -> str | None:
    return iso_or_none(value)


def notification(row: NotificationRow) -> Notification:
    return Notification(
        id=str(row.id), type=row.type, title=row.subject, body=row.message or None, titleKey=row.title_key,
        bodyKey=row.body_key, titleVariables=row.title_variables, bodyVariables=row.body_variables, icon=row.icon,
        severity=row.severity, status=row.status, actions=[Action.model_validate(a) for a in row.actions or []],
        sourceModule=row.source_module, sourceEntityType=row.source_entity_type,
        sourceEntityId=row.source_entity_id, linkHref=row.link_href, createdAt=_iso(row.created_at) or "",
        readAt=_iso(row.read_at), actionTaken=row.action_taken,
    )  # fmt: skip


def settings(value: NotificationSettings) -> Settings:
    return Settings(disabledTypes=value.disabled_types, emailTypes=value.email_types)
