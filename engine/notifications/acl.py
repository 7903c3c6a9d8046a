"""Features of the notifications module. Reading, marking and acting on one's own notifications
needs no feature (a user only ever sees their own)."""

from __future__ import annotations

from engine.auth.features import Feature, ModuleFeatures

MODULE = ModuleFeatures(
    id="notifications",
    title="Notifications",
    features=(
        Feature("notifications.create", "Send notifications to users, roles and feature holders"),
        Feature("notifications.manage", "Manage one's own notification settings"),
    ),
    default_grants={
        "admin": ("notifications.*",),
        "employee": ("notifications.manage",),
        "consumer": ("notifications.manage",),
    },
)
