"""Hostile input: delivery body digests (replay) and pinned ssh host keys.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_digest", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_hook_deliveries_body_digest"), ["body_digest"], unique=False
        )

    op.create_table(
        "ssh_host_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=300), nullable=False),
        sa.Column("key_type", sa.String(length=100), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ssh_host_keys")),
        sa.UniqueConstraint("host", "key_type", name=op.f("uq_ssh_host_keys_host")),
    )


def downgrade() -> None:
    op.drop_table("ssh_host_keys")
    with op.batch_alter_table("hook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hook_deliveries_body_digest"))
        batch_op.drop_column("body_digest")
