"""Trust boundary: build trust and approval, per-repo fork policy, credential scopes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("builds") as batch:
        batch.add_column(
            sa.Column("trusted", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("trust_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("approved_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("trusted_config_text", sa.Text(), nullable=True))
    with op.batch_alter_table("repos") as batch:
        batch.add_column(
            sa.Column("fork_prs", sa.String(length=20), nullable=False, server_default="approve")
        )
        batch.add_column(
            sa.Column("untrusted_prs", sa.String(length=20), nullable=False, server_default="forks")
        )
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("events", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("branches", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("branches")
        batch.drop_column("events")
    with op.batch_alter_table("repos") as batch:
        batch.drop_column("untrusted_prs")
        batch.drop_column("fork_prs")
    with op.batch_alter_table("builds") as batch:
        batch.drop_column("trusted_config_text")
        batch.drop_column("approved_at")
        batch.drop_column("approved_by")
        batch.drop_column("trust_reason")
        batch.drop_column("trusted")
