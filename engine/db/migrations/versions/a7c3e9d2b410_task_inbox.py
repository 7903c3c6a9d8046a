"""task inbox: priority, completion key, inbox indexes

Revision ID: a7c3e9d2b410
Revises: 2d6e268e4dd7
Create Date: 2026-12-05 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'a7c3e9d2b410'
down_revision: str | None = '2d6e268e4dd7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('user_tasks', sa.Column('priority', sa.Integer(), nullable=True))
    op.add_column('user_tasks', sa.Column('completion_key', sa.String(length=255), nullable=True))
    op.create_index('ix_user_tasks_tenant_assigned_to', 'user_tasks', ['tenant_id', 'assigned_to'], unique=False)
    op.create_index('ix_user_tasks_tenant_claimed_by', 'user_tasks', ['tenant_id', 'claimed_by'], unique=False)
    op.create_index('ix_user_tasks_roles', 'user_tasks', ['assigned_to_roles'], unique=False, postgresql_using='gin')
    op.create_index('ix_user_tasks_tenant_due', 'user_tasks', ['tenant_id', 'due_date'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_user_tasks_tenant_due', table_name='user_tasks')
    op.drop_index('ix_user_tasks_roles', table_name='user_tasks', postgresql_using='gin')
    op.drop_index('ix_user_tasks_tenant_claimed_by', table_name='user_tasks')
    op.drop_index('ix_user_tasks_tenant_assigned_to', table_name='user_tasks')
    op.drop_column('user_tasks', 'completion_key')
    op.drop_column('user_tasks', 'priority')
