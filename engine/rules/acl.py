"""Features of the business-rules module (gathered by `engine/modules.py`)."""

from __future__ import annotations

from engine.auth.features import Feature, ModuleFeatures

BUSINESS_RULES = ModuleFeatures(
    id="business_rules",
    title="Business Rules",
    features=tuple(
        Feature(f"business_rules.{name}", title)
        for name, title in (
            ("view", "View business rules"),
            ("manage", "Manage business rules"),
            ("execute", "Execute business rules"),
            ("view_logs", "View rule execution logs"),
            ("manage_sets", "Manage rule sets"),
        )
    ),
    default_grants={"admin": ("business_rules.*",), "employee": ("business_rules.view",)},
)
