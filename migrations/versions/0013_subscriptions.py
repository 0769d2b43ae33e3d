"""Upstream → downstream builds: a repository subscribes to another repository's branch, and
a build started by an upstream build records which one (``ocelot subscribe``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("downstream_id", sa.Integer(), nullable=False),
        sa.Column("upstream_id", sa.Integer(), nullable=False),
        sa.Column("upstream_branch", sa.String(length=500), nullable=False),
        sa.Column("downstream_branch", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["downstream_id"],
            ["repos.id"],
            name=op.f("fk_subscriptions_downstream_id_repos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["upstream_id"],
            ["repos.id"],
            name=op.f("fk_subscriptions_upstream_id_repos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "downstream_id",
            "upstream_id",
            "upstream_branch",
            name=op.f("uq_subscriptions_downstream_id"),
        ),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_subscriptions_upstream_id", ["upstream_id"], unique=False)
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upstream_repo", sa.String(length=401), nullable=True))
        batch_op.add_column(sa.Column("upstream_build_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("upstream_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "uq_builds_upstream", ["repo_id", "upstream_build_id", "pipeline"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_index("uq_builds_upstream")
        batch_op.drop_column("upstream_hash")
        batch_op.drop_column("upstream_build_id")
        batch_op.drop_column("upstream_repo")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_upstream_id")
    op.drop_table("subscriptions")
