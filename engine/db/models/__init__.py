"""Every ORM model lives in this package, so Alembic sees the whole schema from one import."""

from engine.db.base import Base
from engine.db.models.auth import (
    ApiKey,
    AuthSession,
    PasswordReset,
    RateLimitBucket,
    Role,
    RoleAcl,
    SidebarPreference,
    User,
    UserAcl,
    UserRole,
)
from engine.db.models.directory import Organization, Tenant
from engine.db.models.mail import MailOutbox

__all__ = [
    "ApiKey",
    "AuthSession",
    "Base",
    "MailOutbox",
    "Organization",
    "PasswordReset",
    "RateLimitBucket",
    "Role",
    "RoleAcl",
    "SidebarPreference",
    "Tenant",
    "User",
    "UserAcl",
    "UserRole",
]
