"""The module catalog: every domain's declared features in one list (served by
`GET /api/auth/features`, and the source of the seeded roles' grants). A new domain adds its
`acl.MODULE` here."""

from __future__ import annotations

from engine.auth import acl as auth_acl
from engine.auth.features import Feature, ModuleFeatures
from engine.consumers import acl as consumers_acl
from engine.esims import acl as esims_acl
from engine.invite_codes import acl as invite_codes_acl
from engine.wallet import acl as wallet_acl

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

MODULES: tuple[ModuleFeatures, ...] = (
    *auth_acl.MODULES,
    WORKFLOWS,
    BUSINESS_RULES,
    SCHEDULER,
    wallet_acl.MODULE,
    esims_acl.MODULE,
    consumers_acl.MODULE,
    invite_codes_acl.MODULE,
)

SEEDED_ROLES = ("superadmin", "admin", "employee", "consumer")


def all_features() -> list[tuple[ModuleFeatures, Feature]]:
    return [(module, feature) for module in MODULES for feature in module.features]


def default_grants(role: str) -> list[str]:
    return [grant for module in MODULES for grant in module.default_grants.get(role, ())]
