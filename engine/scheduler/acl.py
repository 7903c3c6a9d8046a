"""Features of the scheduler (system-scope operations also need a super admin)."""

from __future__ import annotations

from engine.auth.features import Feature, ModuleFeatures

SCHEDULER = ModuleFeatures(
    id="scheduler",
    title="Scheduler",
    features=(
        Feature("scheduler.jobs.view", "View scheduled jobs"),
        Feature("scheduler.jobs.manage", "Manage scheduled jobs"),
        Feature("scheduler.jobs.trigger", "Trigger scheduled jobs"),
    ),
    default_grants={"admin": ("scheduler.*",), "employee": ("scheduler.jobs.view",)},
)
