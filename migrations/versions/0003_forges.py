"""Forges: webhook secrets and installed hooks, PR comments, webhook deliveries, polls.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repo_hooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("forge_hook_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("installed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_repo_hooks_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repo_hooks")),
        sa.UniqueConstraint("repo_id", name=op.f("uq_repo_hooks_repo_id")),
    )
    op.create_table(
        "pr_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("pr_id", sa.String(length=50), nullable=False),
        sa.Column("comment_id", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_pr_comments_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pr_comments")),
        sa.UniqueConstraint("repo_id", "pr_id", name=op.f("uq_pr_comments_repo_id")),
    )
    with op.batch_alter_table("pr_comments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pr_comments_repo_id"), ["repo_id"], unique=False)

    op.create_table(
        "hook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("forge", sa.String(length=20), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=True),
        sa.Column("dedupe_key", sa.String(length=300), nullable=True),
        sa.Column("repo_id", sa.Integer(), nullable=True),
        sa.Column("repo_name", sa.String(length=500), nullable=True),
        sa.Column("event", sa.String(length=100), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("build_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"],
            ["builds.id"],
            name=op.f("fk_hook_deliveries_build_id_builds"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repo_id"],
            ["repos.id"],
            name=op.f("fk_hook_deliveries_repo_id_repos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hook_deliveries")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_hook_deliveries_dedupe_key")),
    )
    with op.batch_alter_table("hook_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hook_deliveries_repo_id"), ["repo_id"], unique=False)

    op.create_table(
        "polls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo_id", sa.Integer(), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("branches", sa.JSON(), nullable=False),
        sa.Column("last_hashes", sa.JSON(), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_polls_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polls")),
        sa.UniqueConstraint("repo_id", name=op.f("uq_polls_repo_id")),
    )


def downgrade() -> None:
    op.drop_table("polls")
    with op.batch_alter_table("hook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hook_deliveries_repo_id"))
    op.drop_table("hook_deliveries")
    with op.batch_alter_table("pr_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pr_comments_repo_id"))
    op.drop_table("pr_comments")
    op.drop_table("repo_hooks")
