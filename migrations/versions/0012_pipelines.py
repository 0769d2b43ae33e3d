"""Several pipelines per repository: the pipeline a build runs, the event it belongs to, and
the build of that event it waits for (``depends_on``).

Existing builds ran ocelot.yml, the pipeline ``default``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pipeline", sa.String(length=100), nullable=False, server_default="default")
        )
        batch_op.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("waiting_for", sa.Integer(), nullable=True))
        batch_op.create_index("ix_builds_event_id", ["event_id"], unique=False)
        batch_op.create_index("ix_builds_waiting_for", ["waiting_for"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_index("ix_builds_waiting_for")
        batch_op.drop_index("ix_builds_event_id")
        batch_op.drop_column("waiting_for")
        batch_op.drop_column("event_id")
        batch_op.drop_column("pipeline")
