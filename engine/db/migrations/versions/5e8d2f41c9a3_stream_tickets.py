"""stream tickets: single-use, short-lived tickets that open GET /events/stream

Revision ID: 5e8d2f41c9a3
Revises: 5e8a1c4b9f20
Create Date: 2026-12-05 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e8d2f41c9a3"
down_revision: str | None = "5e8a1c4b9f20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream_tickets",
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("ticket_hash", name=op.f("pk_stream_tickets")),
    )
    op.create_index("ix_stream_tickets_expires", "stream_tickets", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_stream_tickets_expires", table_name="stream_tickets")
    op.drop_table("stream_tickets")
