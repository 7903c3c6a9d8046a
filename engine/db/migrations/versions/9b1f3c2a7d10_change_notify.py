"""auth and rules changes notify the API processes (their caches, engine/invalidation.py)

Revision ID: 9b1f3c2a7d10
Revises: 4fdff4d6a34d
Create Date: 2026-12-05 20:55:00
"""

from collections.abc import Sequence

from alembic import op

# As engine/invalidation.py had them when this migration was written.
CHANNEL = "covo_invalidate"
WATCHED = {
    "auth": ("users", "roles", "user_roles", "role_acls", "user_acls", "auth_sessions", "tenants"),
    "rules": ("business_rules",),
}

revision: str = "9b1f3c2a7d10"
down_revision: str | None = "4fdff4d6a34d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One NOTIFY per statement (not per row); Postgres delivers it at commit, and folds duplicates
    # within a transaction.
    op.execute(
        f"""
        CREATE FUNCTION covo_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_ARGV[0]);
            RETURN NULL;
        END $$
        """
    )
    for kind, tables in WATCHED.items():
        for table in tables:
            op.execute(
                f"CREATE TRIGGER covo_notify_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION covo_notify_change('{kind}')"
            )


def downgrade() -> None:
    for tables in WATCHED.values():
        for table in tables:
            op.execute(f"DROP TRIGGER IF EXISTS covo_notify_{table} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS covo_notify_change()")
