"""Log lines: each stored chunk counts the newlines it holds, so a page can number the lines of
a long log and fetch any range of them without reading the text before it. And an index on
builds (repo_id, id): a repository's newest builds without sorting all of its builds.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lines", sa.Integer(), nullable=False, server_default="0"))
    # count what is stored already: length minus the length without newlines (both dialects)
    op.execute(
        "UPDATE log_chunks SET lines = length(text) - length(replace(text, char(10), ''))"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE log_chunks SET lines = length(text) - length(replace(text, chr(10), ''))"
    )

    op.create_index("ix_builds_repo_id_id", "builds", ["repo_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_builds_repo_id_id", table_name="builds")
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.drop_column("lines")
