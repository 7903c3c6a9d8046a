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
from engine.db.models.consumers import ConsumerRow
from engine.db.models.directory import Organization, Tenant
from engine.db.models.esims import EsimEventRow, EsimPriceRow, EsimRow, EsimUsageDayRow, OneGlobalWebhookRow
from engine.db.models.events import DomainEventRow
from engine.db.models.invite_codes import InviteCodeRow, InviteCodeUseRow
from engine.db.models.mail import MailOutbox
from engine.db.models.notifications import LiveEventRow, NotificationRow, NotificationSettingsRow, StreamTicketRow
from engine.db.models.rules import (
    BusinessRuleRow,
    RuleExecutionLogRow,
    RuleSetMemberRow,
    RuleSetRow,
)
from engine.db.models.scheduler import ScheduledJobRow, ScheduledJobRunRow
from engine.db.models.wallet import BonusLotRow, WalletEntryRow, WalletHoldRow, WalletRow, WalletTransactionRow
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
    "BonusLotRow",
    "BusinessRuleRow",
    "ConsumerRow",
    "DomainEventRow",
    "EsimEventRow",
    "EsimPriceRow",
    "EsimRow",
    "EsimUsageDayRow",
    "InviteCodeRow",
    "InviteCodeUseRow",
    "LiveEventRow",
    "MailOutbox",
    "NotificationRow",
    "NotificationSettingsRow",
    "OneGlobalWebhookRow",
    "Organization",
    "PasswordReset",
    "RateLimitBucket",
    "Role",
    "RoleAcl",
    "RuleExecutionLogRow",
    "RuleSetMemberRow",
    "RuleSetRow",
    "ScheduledJobRow",
    "ScheduledJobRunRow",
    "SideEffectRow",
    "SidebarPreference",
    "StepInstanceRow",
    "StreamTicketRow",
    "Tenant",
    "User",
    "UserAcl",
    "UserRole",
    "UserTaskRow",
    "WalletEntryRow",
    "WalletHoldRow",
    "WalletRow",
    "WalletTransactionRow",
    "WorkflowDefinitionRow",
    "WorkflowEventRow",
    "WorkflowInstanceRow",
]
