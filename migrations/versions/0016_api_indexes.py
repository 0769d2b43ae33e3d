"""Indexes for the API at a million builds (docs/performance.md, "The API at a million
builds"): a build by hash prefix through an index PostgreSQL can use for ``LIKE 'abc%'``
whatever the database's collation (``varchar_pattern_ops``; SQLite is queried by range and
keeps a plain index), and a branch's or a pipeline's newest builds, of one repository or of
all, without walking every build (``ocelot summary --branch B``, ``-p NAME``).
``ix_builds_repo_id`` goes: ``ix_builds_repo_id_id`` (0009) starts with the same column and
serves the same lookups.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 01:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_builds_hash", table_name="builds")
    op.create_index(
        "ix_builds_hash", "builds", ["hash"], postgresql_ops={"hash": "varchar_pattern_ops"}
    )
    op.create_index("ix_builds_repo_id_branch_id", "builds", ["repo_id", "branch", "id"])
    op.create_index("ix_builds_branch_id", "builds", ["branch", "id"])
    op.create_index("ix_builds_repo_id_pipeline_id", "builds", ["repo_id", "pipeline", "id"])
    op.create_index("ix_builds_pipeline_id", "builds", ["pipeline", "id"])
    op.drop_index("ix_builds_repo_id", table_name="builds")


def downgrade() -> None:
    op.create_index("ix_builds_repo_id", "builds", ["repo_id"])
    op.drop_index("ix_builds_pipeline_id", table_name="builds")
    op.drop_index("ix_builds_repo_id_pipeline_id", table_name="builds")
    op.drop_index("ix_builds_branch_id", table_name="builds")
    op.drop_index("ix_builds_repo_id_branch_id", table_name="builds")
    op.drop_index("ix_builds_hash", table_name="builds")
    op.create_index("ix_builds_hash", "builds", ["hash"])
