"""Features of the eSIM module."""

from __future__ import annotations

from engine.auth.features import Feature, ModuleFeatures

MODULE = ModuleFeatures(
    id="esims",
    title="eSIMs",
    features=(
        Feature("esims.view", "View own eSIMs"),
        Feature("esims.list", "List own eSIMs"),
        Feature("esims.create", "Order eSIMs"),
        Feature("esims.usage", "View eSIM usage"),
        Feature("esims.home-zone", "Manage eSIM home zone"),
        Feature("esims.admin.list", "List all eSIMs"),
        Feature("esims.admin.generate", "Generate eSIMs"),
        Feature("esims.admin.update", "Update eSIMs"),
    ),
    default_grants={
        "admin": ("esims.*",),
        "employee": ("esims.admin.list",),
        "consumer": ("esims.view", "esims.list", "esims.create", "esims.usage", "esims.home-zone"),
    },
)
