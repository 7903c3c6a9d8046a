"""The module catalog: every domain's declared features in one list (served by
`GET /api/auth/features`, and the source of the seeded roles' grants). A new domain adds its
`acl.MODULE` here."""

from __future__ import annotations

from engine.auth import acl as auth_acl
from engine.auth.features import Feature, ModuleFeatures
from engine.consumers import acl as consumers_acl
from engine.esims import acl as esims_acl
from engine.invite_codes import acl as invite_codes_acl
from engine.notifications import acl as notifications_acl
from engine.rules import acl as rules_acl
from engine.scheduler.acl import SCHEDULER
from engine.wallet import acl as wallet_acl
from engine.workflows import acl as workflows_acl

MODULES: tuple[ModuleFeatures, ...] = (
    *auth_acl.MODULES,
    workflows_acl.WORKFLOWS,
    rules_acl.BUSINESS_RULES,
    SCHEDULER,
    wallet_acl.MODULE,
    esims_acl.MODULE,
    notifications_acl.MODULE,
    consumers_acl.MODULE,
    invite_codes_acl.MODULE,
)

SEEDED_ROLES = ("superadmin", "admin", "employee", "consumer")


def all_features() -> list[tuple[ModuleFeatures, Feature]]:
    return [(module, feature) for module in MODULES for feature in module.features]


def default_grants(role: str) -> list[str]:
    return [grant for module in MODULES for grant in module.default_grants.get(role, ())]
