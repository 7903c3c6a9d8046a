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
from engine.db.models.esims import EsimEventRow, EsimRow, EsimUsageDayRow, OneGlobalWebhookRow
from engine.db.models.events import DomainEventRow
from engine.db.models.mail import MailOutbox
from engine.db.models.rules import (
    BusinessRuleRow,
    NotificationRow,
    RuleExecutionLogRow,
    RuleSetMemberRow,
    RuleSetRow,
)
from engine.db.models.workflows import (
    SideEffectRow,
    StepInstanceRow,
    UserTaskRow,
    WorkflowDefinitionRow,
    WorkflowEventRow,
    WorkflowInstanceRow,
)

__all__ = [
    "ApiKey",
    "AuthSession",
    "Base",
    "BusinessRuleRow",
    "DomainEventRow",
    "EsimEventRow",
    "EsimRow",
    "EsimUsageDayRow",
    "MailOutbox",
    "NotificationRow",
    "OneGlobalWebhookRow",
    "Organization",
    "PasswordReset",
    "RateLimitBucket",
    "Role",
    "RoleAcl",
    "RuleExecutionLogRow",
    "RuleSetMemberRow",
    "RuleSetRow",
    "SideEffectRow",
    "SidebarPreference",
    "StepInstanceRow",
    "Tenant",
    "User",
    "UserAcl",
    "UserRole",
    "UserTaskRow",
    "WorkflowDefinitionRow",
    "WorkflowEventRow",
    "WorkflowInstanceRow",
]
