"""Features of the accounts, directory and API-key modules."""

from __future__ import annotations

from engine.auth.features import Feature, ModuleFeatures

AUTH = ModuleFeatures(
    id="auth",
    title="Authentication & Accounts",
    features=(
        Feature("auth.users.list", "List users"),
        Feature("auth.users.create", "Create users"),
        Feature("auth.users.edit", "Edit users"),
        Feature("auth.users.delete", "Delete users"),
        Feature("auth.roles.list", "List roles"),
        Feature("auth.roles.manage", "Manage roles"),
        Feature("auth.acl.manage", "Manage access control"),
    ),
    default_grants={"admin": ("auth.*",), "employee": ("auth.users.list", "auth.roles.list")},
)

DIRECTORY = ModuleFeatures(
    id="directory",
    title="Directory",
    features=(
        Feature("directory.tenants.view", "View tenants"),
        Feature("directory.tenants.manage", "Manage tenants"),
        Feature("directory.organizations.view", "View organizations"),
        Feature("directory.organizations.manage", "Manage organizations"),
    ),
    # Tenants are the super-admin's business; a tenant admin manages its own organizations.
    default_grants={
        "admin": ("directory.organizations.*",),
        "employee": ("directory.organizations.view",),
    },
)

API_KEYS = ModuleFeatures(
    id="api_keys",
    title="API Keys",
    features=(
        Feature("api_keys.view", "View API keys"),
        Feature("api_keys.create", "Create API keys"),
        Feature("api_keys.delete", "Delete API keys"),
    ),
    default_grants={"admin": ("api_keys.*",)},
)

MODULES = (AUTH, DIRECTORY, API_KEYS)
