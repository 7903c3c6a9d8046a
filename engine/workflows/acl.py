"""Features of the workflows module (gathered by `engine/modules.py`)."""

from __future__ import annotations

from engine.auth.features import Feature, ModuleFeatures

WORKFLOWS = ModuleFeatures(
    id="workflows",
    title="Workflows",
    features=tuple(
        Feature(f"workflows.{name}", title)
        for name, title in (
            ("view", "View workflows"),
            ("manage", "Manage workflows"),
            ("view_logs", "View workflow logs"),
            ("view_tasks", "View workflow tasks"),
            ("definitions.view", "View workflow definitions"),
            ("definitions.create", "Create workflow definitions"),
            ("definitions.edit", "Edit workflow definitions"),
            ("definitions.delete", "Delete workflow definitions"),
            ("instances.view", "View workflow instances"),
            ("instances.create", "Start workflow instances"),
            ("instances.cancel", "Cancel workflow instances"),
            ("instances.retry", "Retry workflow instances"),
            ("instances.signal", "Signal workflow instances"),
            ("tasks.view", "View user tasks"),
            ("tasks.claim", "Claim user tasks"),
            ("tasks.complete", "Complete user tasks"),
            ("signals.send", "Send workflow signals"),
            ("events.view", "View workflow events"),
        )
    ),
    default_grants={
        "admin": ("workflows.*",),
        "employee": (
            "workflows.view",
            "workflows.definitions.view",
            "workflows.instances.view",
            "workflows.tasks.view",
            "workflows.tasks.claim",
            "workflows.tasks.complete",
        ),
    },
)
