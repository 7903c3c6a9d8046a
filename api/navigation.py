"""Admin navigation and sidebar preferences."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentPrincipal, Session
from api.schemas.auth import (
    AdminNav,
    SidebarBody,
    SidebarPreferences,
    SidebarPreferencesSaved,
)
from engine.auth import navigation

router = APIRouter(tags=["Authentication & Accounts"])


# ---------------------------------------------------------------- navigation


@router.get("/auth/admin/nav", summary="Resolve sidebar entries", response_model=AdminNav)
async def admin_nav(principal: CurrentPrincipal, session: Session) -> AdminNav:
    return AdminNav.of(await navigation.admin_nav(session, principal))


@router.get("/auth/sidebar/preferences", summary="Sidebar preferences", response_model=SidebarPreferences)
async def get_sidebar(principal: CurrentPrincipal, session: Session) -> SidebarPreferences:
    return SidebarPreferences.of(await navigation.get_preferences(session, principal))


@router.put(
    "/auth/sidebar/preferences",
    summary="Save sidebar preferences",
    response_model=SidebarPreferencesSaved,
    responses={403: {"description": "applyToRoles without auth.roles.manage"}},
)
async def put_sidebar(principal: CurrentPrincipal, session: Session, body: SidebarBody) -> SidebarPreferencesSaved:
    """Saves the caller's own preferences; `applyToRoles` also stores them for roles (needs
    `auth.roles.manage`) and `clearRoleIds` removes roles' preferences."""
    prefs = await navigation.put_preferences(
        session,
        principal,
        locale=body.locale,
        settings=body.settings,
        apply_to_roles=body.apply_to_roles,
        clear_roles=body.clear_role_ids,
    )
    applied, cleared = [str(r) for r in body.apply_to_roles], [str(r) for r in body.clear_role_ids]
    return SidebarPreferencesSaved.of(prefs, appliedRoles=applied, clearedRoles=cleared)
