"""What a notification says, independent of who receives it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

SEVERITIES = ("info", "success", "warning", "error")


class NotificationAction(BaseModel):
    id: str = Field(min_length=1, max_length=100)
    label: str = Field(min_length=1, max_length=200)
    href: str | None = Field(None, max_length=500)


class NotificationSpec(BaseModel):
    type: str = Field(min_length=1, max_length=100)
    title: str | None = Field(None, max_length=500)
    body: str | None = None
    title_key: str | None = None
    body_key: str | None = None
    title_variables: dict[str, Any] | None = None
    body_variables: dict[str, Any] | None = None
    icon: str | None = None
    severity: str = "info"
    actions: list[NotificationAction] = Field(default_factory=list)
    source_module: str | None = None
    source_entity_type: str | None = None
    source_entity_id: str | None = None
    link_href: str | None = None
    data: dict[str, Any] | None = None


class NotificationSettings(BaseModel):
    """`disabled_types`: kinds not delivered; `email_types`: kinds also sent by e-mail (`*` for all)."""

    disabled_types: list[str] = Field(default_factory=list)
    email_types: list[str] = Field(default_factory=list)

    def delivers(self, kind: str) -> bool:
        return kind not in self.disabled_types and "*" not in self.disabled_types

    def emails(self, kind: str) -> bool:
        return self.delivers(kind) and (kind in self.email_types or "*" in self.email_types)
