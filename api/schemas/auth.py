"""Request and response bodies of Authentication & Accounts. Services return rows or typed results;
the answers are built here (`.of(...)`). Field order is the JSON's key order."""

from __future__ import annotations

import uuid
from typing import Any, Self

from pydantic import Field

from api.schemas.common import Body, Input
from engine.auth.accounts import AclChange, UserEntry
from engine.auth.navigation import NavEntry, NavSection, Preferences
from engine.auth.service import Acl as Grants
from engine.db import models


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

    @classmethod
    def of(cls, entry: NavEntry) -> NavItem:
        return cls(href=entry.href, title=entry.title, defaultTitle=entry.default_title, enabled=entry.enabled)


class NavGroup(Body):
    id: str
    name: str
    defaultName: str
    items: list[NavItem]

    @classmethod
    def of(cls, section: NavSection) -> NavGroup:
        items = [NavItem.of(e) for e in section.items]
        return cls(id=section.id, name=section.name, defaultName=section.default_name, items=items)


class AdminNav(Body):
    groups: list[NavGroup]

    @classmethod
    def of(cls, sections: list[NavSection]) -> AdminNav:
        return cls(groups=[NavGroup.of(s) for s in sections])


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

    @classmethod
    def of(cls, prefs: Preferences, **more: Any) -> Self:
        roles = [SidebarRole(id=str(role.id), name=role.name, hasPreference=has) for role, has in prefs.roles]
        settings = SidebarSettings.model_validate(prefs.settings)
        return cls(
            locale=prefs.locale, settings=settings, canApplyToRoles=prefs.can_apply_to_roles, roles=roles, **more
        )


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

    @classmethod
    def of(cls, role: models.Role, users_count: int, tenant_name: str) -> Role:
        return cls(
            id=str(role.id),
            name=role.name,
            usersCount=int(users_count),
            tenantId=str(role.tenant_id),
            tenantName=tenant_name,
        )


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

    @classmethod
    def of(cls, entry: UserEntry) -> User:
        user = entry.user
        return cls(
            id=str(user.id),
            email=user.email,
            name=user.name,
            isActive=user.is_active,
            organizationId=str(user.organization_id) if user.organization_id else None,
            organizationName=entry.organization_name,
            tenantId=str(user.tenant_id),
            tenantName=entry.tenant_name,
            roles=entry.roles,
        )


class Acl(Body):
    isSuperAdmin: bool
    features: list[str]
    organizations: list[str] | None

    @classmethod
    def of(cls, acl: models.RoleAcl | Grants | None) -> Acl:
        """A role's grants (None: it grants nothing)."""
        if acl is None:
            return cls(isSuperAdmin=False, features=[], organizations=None)
        return cls(
            isSuperAdmin=acl.is_super_admin,
            features=list(acl.features),
            organizations=None if acl.organizations is None else list(acl.organizations),
        )


class UserAcl(Body):
    """Without a custom ACL (`hasCustomAcl: false`) the grants are what the user's roles give."""

    hasCustomAcl: bool
    isSuperAdmin: bool
    features: list[str]
    organizations: list[str] | None

    @classmethod
    def of(cls, has_custom_acl: bool, acl: Grants) -> UserAcl:
        return cls(hasCustomAcl=has_custom_acl, **Acl.of(acl).model_dump())


class AclSaved(Body):
    """`sanitized` is true when features were dropped (undeclared, or not held by the caller)."""

    ok: bool
    sanitized: bool


# ---------------------------------------------------------------- request bodies


class RefreshBody(Input):
    refresh_token: str | None = Field(default=None, alias="refreshToken")


class ProfileBody(Input):
    email: str | None = None
    name: str | None = None
    password: str | None = None
    current_password: str | None = Field(default=None, alias="currentPassword")


class LocaleBody(Input):
    locale: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")


class FeatureCheckBody(Input):
    features: list[str] = Field(default_factory=list)


class SidebarBody(Input):
    locale: str | None = None
    # Stored as sent once its known keys are checked (engine.auth.navigation.normalize_settings).
    settings: dict[str, Any] | None = None
    apply_to_roles: list[uuid.UUID] = Field(default_factory=list, alias="applyToRoles")
    clear_role_ids: list[uuid.UUID] = Field(default_factory=list, alias="clearRoleIds")


class RoleCreate(Input):
    name: str
    tenant_id: uuid.UUID | None = Field(default=None, alias="tenantId")


class RoleUpdate(Input):
    id: uuid.UUID
    name: str | None = None
    tenant_id: uuid.UUID | None = Field(default=None, alias="tenantId")


class UserCreate(Input):
    email: str
    password: str | None = None
    name: str | None = None
    organization_id: uuid.UUID | None = Field(default=None, alias="organizationId")
    roles: list[str] = Field(default_factory=list)


class UserUpdate(Input):
    id: uuid.UUID
    email: str | None = None
    password: str | None = None
    name: str | None = None
    organization_id: uuid.UUID | None = Field(default=None, alias="organizationId")
    roles: list[str] | None = None
    is_active: bool | None = Field(default=None, alias="isActive")


class AclBody(Input):
    features: list[str] | None = None
    is_super_admin: bool | None = Field(default=None, alias="isSuperAdmin")
    organizations: list[str] | None = None

    def change(self) -> AclChange:
        return AclChange(
            features=self.features,
            is_super_admin=self.is_super_admin,
            organizations=self.organizations,
            organizations_given="organizations" in self.model_fields_set,
        )


class RoleAclBody(AclBody):
    role_id: uuid.UUID = Field(alias="roleId")


class UserAclBody(AclBody):
    user_id: uuid.UUID = Field(alias="userId")
    has_custom_acl: bool | None = Field(default=None, alias="hasCustomAcl")
