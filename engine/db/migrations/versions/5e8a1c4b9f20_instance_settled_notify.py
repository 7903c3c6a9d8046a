"""an instance leaving RUNNING notifies the API processes (start admission, engine/workflows/settlement.py)

Revision ID: 5e8a1c4b9f20
Revises: 9b1f3c2a7d10
Create Date: 2026-12-06 00:05:00
"""

from collections.abc import Sequence

from alembic import op

# As engine/workflows/settlement.py had it when this migration was written.
CHANNEL = "covo_instance_settled"

revision: str = "5e8a1c4b9f20"
down_revision: str | None = "9b1f3c2a7d10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Per row, only when the status leaves RUNNING (completed, failed, paused on a person, a signal
    # or a timer, forked, cancelled): the WHEN clause keeps every other write free of it. Postgres
    # delivers the notification at commit.
    op.execute(
        f"""
        CREATE FUNCTION covo_notify_instance_settled() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', NEW.id::text);
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER covo_instance_settled AFTER UPDATE OF status ON workflow_instances FOR EACH ROW "
        "WHEN (OLD.status = 'RUNNING' AND NEW.status <> 'RUNNING') EXECUTE FUNCTION covo_notify_instance_settled()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS covo_instance_settled ON workflow_instances")
    op.execute("DROP FUNCTION IF EXISTS covo_notify_instance_settled()")
