"""task inbox and notifications: task priority, completion key, inbox indexes; notification
columns, settings, the live-event log and its triggers

Revision ID: a7c3e9d2b410
Revises: 2d6e268e4dd7
Create Date: 2026-12-05 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision: str = 'a7c3e9d2b410'
down_revision: str | None = '2d6e268e4dd7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The live stream (`GET /events/stream`): every new notification for a user, and every task and
# instance event, lands in `live_events` in the writer's transaction and is announced on the
# `covo_live` channel when it commits; each API process LISTENs once and fans out to its clients.
LIVE_TRIGGERS = [
    """
    CREATE FUNCTION covo_live_notification() RETURNS trigger AS $$
    DECLARE new_id bigint;
    BEGIN
        IF NEW.recipient_user_id IS NULL THEN
            RETURN NEW;
        END IF;
        INSERT INTO live_events (tenant_id, kind, user_id, payload)
        VALUES (NEW.tenant_id, 'notification', NEW.recipient_user_id,
                jsonb_build_object('id', NEW.id, 'type', NEW.type, 'title', NEW.subject,
                                   'severity', NEW.severity, 'linkHref', NEW.link_href))
        RETURNING id INTO new_id;
        PERFORM pg_notify('covo_live', new_id::text);
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER notifications_live AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION covo_live_notification()
    """,
    """
    CREATE FUNCTION covo_live_workflow_event() RETURNS trigger AS $$
    DECLARE
        new_id bigint;
        task_key text;
        task record;
        initiated text;
    BEGIN
        task_key := coalesce(NEW.event_data->>'taskId', NEW.event_data->>'userTaskId');
        IF NEW.event_type LIKE 'USER_TASK_%' AND task_key IS NOT NULL THEN
            SELECT status, assigned_to, assigned_to_roles, claimed_by, task_name INTO task
            FROM user_tasks WHERE id = task_key::uuid;
            INSERT INTO live_events (tenant_id, kind, payload)
            VALUES (NEW.tenant_id, 'task',
                    jsonb_build_object('eventType', NEW.event_type, 'taskId', task_key,
                                       'instanceId', NEW.workflow_instance_id, 'taskName', task.task_name,
                                       'status', task.status, 'assignedTo', task.assigned_to,
                                       'assignedToRoles', task.assigned_to_roles, 'claimedBy', task.claimed_by))
            RETURNING id INTO new_id;
        ELSIF NEW.event_type LIKE 'WORKFLOW_%' THEN
            SELECT metadata->>'initiatedBy' INTO initiated FROM workflow_instances WHERE id = NEW.workflow_instance_id;
            INSERT INTO live_events (tenant_id, kind, payload)
            VALUES (NEW.tenant_id, 'instance',
                    jsonb_build_object('eventType', NEW.event_type, 'instanceId', NEW.workflow_instance_id,
                                       'initiatedBy', initiated))
            RETURNING id INTO new_id;
        ELSE
            RETURN NEW;
        END IF;
        PERFORM pg_notify('covo_live', new_id::text);
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER workflow_events_live AFTER INSERT ON workflow_events
    FOR EACH ROW EXECUTE FUNCTION covo_live_workflow_event()
    """,
]


def upgrade() -> None:
    op.add_column('user_tasks', sa.Column('priority', sa.Integer(), nullable=True))
    op.add_column('user_tasks', sa.Column('completion_key', sa.String(length=255), nullable=True))
    op.create_index('ix_user_tasks_tenant_assigned_to', 'user_tasks', ['tenant_id', 'assigned_to'], unique=False)
    op.create_index('ix_user_tasks_tenant_claimed_by', 'user_tasks', ['tenant_id', 'claimed_by'], unique=False)
    op.create_index('ix_user_tasks_roles', 'user_tasks', ['assigned_to_roles'], unique=False, postgresql_using='gin',
                    postgresql_with={'fastupdate': 'off'})

    # -- notifications
    op.add_column('notifications', sa.Column('recipient_user_id', sa.Uuid(), nullable=True))
    op.add_column('notifications', sa.Column('type', sa.String(length=100), server_default='generic', nullable=False))
    op.add_column('notifications', sa.Column('title_key', sa.String(length=200), nullable=True))
    op.add_column('notifications', sa.Column('body_key', sa.String(length=200), nullable=True))
    op.add_column('notifications', sa.Column('title_variables', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('notifications', sa.Column('body_variables', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('notifications', sa.Column('icon', sa.String(length=100), nullable=True))
    op.add_column('notifications', sa.Column('severity', sa.String(length=20), server_default='info', nullable=False))
    op.add_column('notifications', sa.Column('status', sa.String(length=20), server_default='unread', nullable=False))
    op.add_column('notifications', sa.Column('actions', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.add_column('notifications', sa.Column('source_module', sa.String(length=100), nullable=True))
    op.add_column('notifications', sa.Column('source_entity_type', sa.String(length=100), nullable=True))
    op.add_column('notifications', sa.Column('source_entity_id', sa.String(length=100), nullable=True))
    op.add_column('notifications', sa.Column('link_href', sa.String(length=500), nullable=True))
    op.add_column('notifications', sa.Column('dismissed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('notifications', sa.Column('action_taken', sa.String(length=100), nullable=True))
    op.add_column('notifications', sa.Column('action_taken_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('notifications', sa.Column('dedupe_key', sa.String(length=300), nullable=True))
    op.create_index('ix_notifications_user_status_created', 'notifications', ['tenant_id', 'recipient_user_id', 'status', 'created_at'], unique=False)
    op.create_unique_constraint(op.f('uq_notifications_tenant_id_dedupe_key'), 'notifications', ['tenant_id', 'dedupe_key'])
    op.create_table(
        'notification_settings',
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('settings', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_settings')),
        sa.UniqueConstraint('tenant_id', 'user_id', name=op.f('uq_notification_settings_tenant_id_user_id')),
    )
    op.create_table(
        'live_events',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.Column('kind', sa.String(length=50), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=True),
        sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_live_events')),
    )
    op.create_index('ix_live_events_created', 'live_events', ['created_at'], unique=False)
    for statement in LIVE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS workflow_events_live ON workflow_events")
    op.execute("DROP TRIGGER IF EXISTS notifications_live ON notifications")
    op.execute("DROP FUNCTION IF EXISTS covo_live_workflow_event()")
    op.execute("DROP FUNCTION IF EXISTS covo_live_notification()")
    op.drop_index('ix_live_events_created', table_name='live_events')
    op.drop_table('live_events')
    op.drop_table('notification_settings')
    op.drop_constraint(op.f('uq_notifications_tenant_id_dedupe_key'), 'notifications', type_='unique')
    op.drop_index('ix_notifications_user_status_created', table_name='notifications')
    for column in ('dedupe_key', 'action_taken_at', 'action_taken', 'dismissed_at', 'link_href', 'source_entity_id',
                   'source_entity_type', 'source_module', 'actions', 'status', 'severity', 'icon', 'body_variables',
                   'title_variables', 'body_key', 'title_key', 'type', 'recipient_user_id'):
        op.drop_column('notifications', column)
    op.drop_index('ix_user_tasks_roles', table_name='user_tasks', postgresql_using='gin')
    op.drop_index('ix_user_tasks_tenant_claimed_by', table_name='user_tasks')
    op.drop_index('ix_user_tasks_tenant_assigned_to', table_name='user_tasks')
    op.drop_column('user_tasks', 'completion_key')
    op.drop_column('user_tasks', 'priority')
