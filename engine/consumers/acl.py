"""Features of the consumers module."""

from __future__ import annotations

from engine.auth.features import Feature, ModuleFeatures

MODULE = ModuleFeatures(
    id="consumers",
    title="Consumers",
    features=(
        Feature("consumers.admin.list", "List consumers"),
        Feature("consumers.admin.create", "Create consumers"),
        Feature("consumers.admin.update", "Update consumers"),
        Feature("consumers.admin.delete", "Delete consumers"),
    ),
    default_grants={"admin": ("consumers.*",), "employee": ("consumers.admin.list",)},
)
