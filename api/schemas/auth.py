"""Response bodies of Authentication & Accounts. Field order follows the bodies the services build,
so the JSON keeps its key order."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from api.common import Camel
from api.schemas.common import Body


class Failure(Body):
    """Sign-in and token errors answer `ok: false` next to the error."""

    ok: bool
    error: str


# ---------------------------------------------------------------- session


class LoginResult(Body):
    ok: bool
    token: str
    refreshToken: str
    expiresIn: int
    redirect: str | None


class AccessToken(Body):
    ok: bool
    accessToken: str
    expiresIn: int


# ---------------------------------------------------------------- profile & locale


class Profile(Body):
    id: str
    email: str
    name: str | None
    roles: list[str]
    tenantId: str
    organizationId: str | None


class ProfileUpdated(Body):
    ok: bool
    email: str


class Locale(Body):
    locale: str


class ResetConfirmed(Body):
    ok: bool
    redirect: str


class LocaleSet(Body):
    ok: bool
    locale: str


# ---------------------------------------------------------------- features


class Feature(Body):
    id: str
    title: str
    module: str


class Module(Body):
    id: str
    title: str


class FeatureCatalog(Body):
    items: list[Feature]
    modules: list[Module]


class FeatureCheck(Body):
    """`ok` is true when every requested feature is granted."""

    ok: bool
    granted: list[str]
    userId: str


# ---------------------------------------------------------------- navigation


class NavItem(Body):
    href: str
    title: str
    defaultTitle: str
    enabled: bool


class NavGroup(Body):
    id: str
    name: str
    defaultName: str
    items: list[NavItem]


class AdminNav(Body):
    groups: list[NavGroup]


class SidebarSettings(Body):
    # Stored as the client sent it (only the other keys are checked), so any JSON value.
    version: Any
    groupOrder: list[str]
    groupLabels: dict[str, str]
    itemLabels: dict[str, str]
    hiddenItems: list[str]


class SidebarRole(Body):
    id: str
    name: str
    hasPreference: bool


class SidebarPreferences(Body):
    locale: str
    settings: SidebarSettings
    canApplyToRoles: bool
    roles: list[SidebarRole]


class SidebarPreferencesSaved(SidebarPreferences):
    appliedRoles: list[str]
    clearedRoles: list[str]


# ---------------------------------------------------------------- roles, users, ACLs


class Role(Body):
    id: str
    name: str
    usersCount: int
    tenantId: str
    tenantName: str


class User(Body):
    id: str
    email: str
    name: str | None
    isActive: bool
    organizationId: str | None
    organizationName: str | None
    tenantId: str
    tenantName: str
    roles: list[str]


class Acl(Body):
    isSuperAdmin: bool
    features: list[str]
    organizations: list[str] | None


class UserAcl(Body):
    """Without a custom ACL (`hasCustomAcl: false`) the grants are what the user's roles give."""

    hasCustomAcl: bool
    isSuperAdmin: bool
    features: list[str]
    organizations: list[str] | None


class AclSaved(Body):
    """`sanitized` is true when features were dropped (undeclared, or not held by the caller)."""

    ok: bool
    sanitized: bool


# ---------------------------------------------------------------- request bodies


class AclBody(Camel):
    features: list[str] | None = None
    is_super_admin: bool | None = Field(default=None, alias="isSuperAdmin")
    organizations: list[str] | None = None


class RoleAclBody(AclBody):
    role_id: uuid.UUID = Field(alias="roleId")


class UserAclBody(AclBody):
    user_id: uuid.UUID = Field(alias="userId")
    has_custom_acl: bool | None = Field(default=None, alias="hasCustomAcl")
