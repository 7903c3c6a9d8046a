"""The module catalog: every domain's declared features in one list (served by
`GET /api/auth/features`, and the source of the seeded roles' grants). A new domain adds its
`acl.MODULE` here."""

from __future__ import annotations

from engine.auth import acl as auth_acl
from engine.auth.features import Feature, ModuleFeatures
from engine.consumers import acl as consumers_acl
from engine.invite_codes import acl as invite_codes_acl
from engine.notifications import acl as notifications_acl
from engine.rules import acl as rules_acl
from engine.scheduler.acl import SCHEDULER
from engine.wallet import acl as wallet_acl
from engine.workflows import acl as workflows_acl

ESIMS = ModuleFeatures(
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

MODULES: tuple[ModuleFeatures, ...] = (
    *auth_acl.MODULES,
    workflows_acl.WORKFLOWS,
    rules_acl.BUSINESS_RULES,
    SCHEDULER,
    wallet_acl.MODULE,
    ESIMS,
    notifications_acl.MODULE,
    consumers_acl.MODULE,
    invite_codes_acl.MODULE,
)

SEEDED_ROLES = ("superadmin", "admin", "employee", "consumer")


def all_features() -> list[tuple[ModuleFeatures, Feature]]:
    return [(module, feature) for module in MODULES for feature in module.features]


def default_grants(role: str) -> list[str]:
    return [grant for module in MODULES for grant in module.default_grants.get(role, ())]
