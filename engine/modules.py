"""The module catalog: every domain's declared features in one list (served by
`GET /api/auth/features`, and the source of the seeded roles' grants). A new domain adds its
`acl.MODULE` here."""

from __future__ import annotations

from engine.auth import acl as auth_acl
from engine.auth.features import Feature, ModuleFeatures
from engine.rules import acl as rules_acl
from engine.workflows import acl as workflows_acl

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

WALLET = ModuleFeatures(
    id="wallet",
    title="Wallet",
    features=(
        Feature("wallet.balance.view", "View own wallet balance"),
        Feature("wallet.transactions.view", "View own wallet transactions"),
        Feature("wallet.admin.list", "List wallets"),
        Feature("wallet.admin.create", "Create wallets"),
        Feature("wallet.admin.adjust", "Adjust wallet balances"),
    ),
    default_grants={
        "admin": ("wallet.*",),
        "employee": ("wallet.admin.list",),
        "consumer": ("wallet.balance.view", "wallet.transactions.view"),
    },
)

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
    WALLET,
    ESIMS,
)

SEEDED_ROLES = ("superadmin", "admin", "employee", "consumer")


def all_features() -> list[tuple[ModuleFeatures, Feature]]:
    return [(module, feature) for module in MODULES for feature in module.features]


def default_grants(role: str) -> list[str]:
    return [grant for module in MODULES for grant in module.default_grants.get(role, ())]
