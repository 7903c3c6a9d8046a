"""Features of the invite-codes module."""

from __future__ import annotations

from engine.auth.features import Feature, ModuleFeatures

MODULE = ModuleFeatures(
    id="invite-codes",
    title="Invite Codes",
    features=(
        Feature("invite-codes.generate", "Generate own invite codes"),
        Feature("invite-codes.list", "List own invite codes"),
        Feature("invite-codes.verify", "Verify an invite code"),
        Feature("invite-codes.apply", "Apply an invite code"),
        Feature("invite-codes.admin.list", "List all invite codes"),
        Feature("invite-codes.admin.create", "Generate invite codes (admin)"),
        Feature("invite-codes.admin.revoke", "Revoke invite codes"),
    ),
    default_grants={
        "admin": ("invite-codes.*",),
        "employee": ("invite-codes.admin.list",),
        "consumer": ("invite-codes.generate", "invite-codes.list", "invite-codes.verify", "invite-codes.apply"),
    },
)
