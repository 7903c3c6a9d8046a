"""The admin sidebar: built from the features the caller holds, then shaped by sidebar
preferences (the user's own, else the first of their roles' that has one)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import repository
from engine.auth.schemas import Principal
from engine.db.models import Role, SidebarPreference
from engine.errors import BadRequest, Forbidden

# (group id, group name, [(href, title, required feature)])
NAVIGATION: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "workflows",
        "Workflows",
        (
            ("/backend/workflows/definitions", "Definitions", "workflows.definitions.view"),
            ("/backend/workflows/instances", "Instances", "workflows.instances.view"),
            ("/backend/workflows/tasks", "Tasks", "workflows.tasks.view"),
            ("/backend/workflows/events", "Events", "workflows.instances.view"),
        ),
    ),
    (
        "business_rules",
        "Business Rules",
        (
            ("/backend/business-rules", "Rules", "business_rules.view"),
            ("/backend/business-rules/sets", "Rule Sets", "business_rules.view"),
            ("/backend/business-rules/logs", "Execution Logs", "business_rules.view_logs"),
        ),
    ),
    ("scheduler", "Scheduler", (("/backend/scheduler/jobs", "Scheduled Jobs", "scheduler.jobs.view"),)),
    (
        "operations",
        "Operations",
        (
            ("/backend/esims", "eSIMs", "esims.admin.list"),
            ("/backend/wallets", "Wallets", "wallet.admin.list"),
        ),
    ),
    (
        "settings",
        "Settings",
        (
            ("/backend/users", "Users", "auth.users.list"),
            ("/backend/roles", "Roles", "auth.roles.list"),
            ("/backend/api-keys", "API Keys", "api_keys.view"),
            ("/backend/directory/organizations", "Organizations", "directory.organizations.view"),
            ("/backend/directory/tenants", "Tenants", "directory.tenants.view"),
        ),
    ),
)

DEFAULT_SETTINGS: dict[str, Any] = {
    "version": 1,
    "groupOrder": [],
    "groupLabels": {},
    "itemLabels": {},
    "hiddenItems": [],
}


def normalize_settings(raw: Any) -> dict[str, Any]:
    if raw is None:
        return dict(DEFAULT_SETTINGS)
    if not isinstance(raw, dict):
        raise BadRequest("settings must be an object")
    settings = {**DEFAULT_SETTINGS, **{k: v for k, v in raw.items() if k in DEFAULT_SETTINGS}}
    for key in ("groupOrder", "hiddenItems"):
        if not isinstance(settings[key], list) or not all(isinstance(v, str) for v in settings[key]):
            raise BadRequest(f"settings.{key} must be a list of strings")
    for key in ("groupLabels", "itemLabels"):
        if not isinstance(settings[key], dict) or not all(isinstance(v, str) for v in settings[key].values()):
            raise BadRequest(f"settings.{key} must map strings to strings")
    return settings


async def _preference(session: AsyncSession, principal: Principal) -> SidebarPreference | None:
    if principal.user_id is None:
        return None
    own = await repository.sidebar_preference(session, principal.tenant_id, user_id=principal.user_id)
    if own is not None or not principal.role_ids:
        return own
    return await repository.any_role_sidebar_preference(session, principal.tenant_id, principal.role_ids)


@dataclass(frozen=True)
class NavEntry:
    href: str
    title: str  # the preference's label, else the default
    default_title: str
    enabled: bool  # not hidden by the preferences


@dataclass(frozen=True)
class NavSection:
    id: str
    name: str
    default_name: str
    items: list[NavEntry]


async def admin_nav(session: AsyncSession, principal: Principal) -> list[NavSection]:
    """The sidebar groups holding an entry the caller may open, labelled and ordered as the
    preferences say."""
    pref = await _preference(session, principal)
    settings = normalize_settings(pref.settings if pref else None)
    groups = []
    for group_id, name, items in NAVIGATION:
        visible = [
            NavEntry(href, settings["itemLabels"].get(href, title), title, href not in settings["hiddenItems"])
            for href, title, feature in items
            if principal.can(feature)
        ]
        if visible:
            groups.append(NavSection(group_id, settings["groupLabels"].get(group_id, name), name, visible))
    order = {gid: i for i, gid in enumerate(settings["groupOrder"])}
    groups.sort(key=lambda g: order.get(g.id, len(order)))
    return groups


@dataclass(frozen=True)
class Preferences:
    """The caller's sidebar preferences; `roles` (each with whether it has preferences of its own)
    only for a caller who may apply them to roles."""

    locale: str
    settings: dict[str, Any]
    can_apply_to_roles: bool
    roles: list[tuple[Role, bool]] = field(default_factory=list)


async def get_preferences(session: AsyncSession, principal: Principal) -> Preferences:
    pref = await _preference(session, principal)
    can_apply = principal.can("auth.roles.manage")
    roles: list[tuple[Role, bool]] = []
    if can_apply:
        with_pref = await repository.roles_with_sidebar_preference(session, principal.tenant_id)
        roles = [(r, r.id in with_pref) for r in await repository.tenant_roles(session, principal.tenant_id)]
    return Preferences(
        locale=pref.locale if pref else "en",
        settings=normalize_settings(pref.settings if pref else None),
        can_apply_to_roles=can_apply,
        roles=roles,
    )


async def _upsert(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    role_id: uuid.UUID | None,
    locale: str,
    settings: dict[str, Any],
) -> None:
    pref = await repository.sidebar_preference(session, tenant_id, user_id=user_id, role_id=role_id)
    if pref is None:
        session.add(
            SidebarPreference(tenant_id=tenant_id, user_id=user_id, role_id=role_id, locale=locale, settings=settings)
        )
    else:
        pref.locale, pref.settings = locale, settings


async def put_preferences(
    session: AsyncSession,
    principal: Principal,
    *,
    locale: str | None,
    settings: Any,
    apply_to_roles: list[uuid.UUID],
    clear_roles: list[uuid.UUID],
) -> Preferences:
    """Saves the caller's own preferences, stores them for `apply_to_roles` and removes those of
    `clear_roles`; answers the caller's preferences as they are now."""
    if principal.user_id is None:
        raise BadRequest("Only a signed-in user has sidebar preferences")
    if (apply_to_roles or clear_roles) and not principal.can("auth.roles.manage"):
        raise Forbidden("Applying preferences to roles requires auth.roles.manage")
    normalized = normalize_settings(settings)
    locale = locale or "en"
    tenant_roles = {r.id for r in await repository.tenant_roles(session, principal.tenant_id)}
    unknown = [str(r) for r in [*apply_to_roles, *clear_roles] if r not in tenant_roles]
    if unknown:
        raise BadRequest(f"Unknown roles: {', '.join(unknown)}")
    await _upsert(
        session, principal.tenant_id, user_id=principal.user_id, role_id=None, locale=locale, settings=normalized
    )
    for role_id in apply_to_roles:
        await _upsert(session, principal.tenant_id, user_id=None, role_id=role_id, locale=locale, settings=normalized)
    for role_id in clear_roles:
        pref = await repository.sidebar_preference(session, principal.tenant_id, role_id=role_id)
        if pref is not None:
            await session.delete(pref)
    await session.flush()
    return await get_preferences(session, principal)
