"""workflow definition changes notify the API processes (their definition cache,
engine/invalidation.py)

Revision ID: b3e7d1f05a92
Revises: 5e8d2f41c9a3
Create Date: 2026-12-06 02:30:00
"""

from collections.abc import Sequence

from alembic import op

# As engine/invalidation.py had them when this migration was written; the trigger function
# `covo_notify_change` comes from 9b1f3c2a7d10_change_notify.
KIND = "workflows"
TABLE = "workflow_definitions"

revision: str = "b3e7d1f05a92"
down_revision: str | None = "5e8d2f41c9a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        f"CREATE TRIGGER covo_notify_{TABLE} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION covo_notify_change('{KIND}')"
    )


def downgrade() -> None:
    op.execute(f"DROP TRIGGER IF EXISTS covo_notify_{TABLE} ON {TABLE}")
