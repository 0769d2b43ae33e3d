"""Logs at volume: a chunk may end inside a line (``unterminated``: the next chunk of its
section continues it), knows its size in bytes, and may keep its text in the build's log
file (``file_offset``, with ``OCELOT_LOG_STORE=files``) instead of in the row.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unterminated", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("size", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("file_offset", sa.BigInteger(), nullable=True))
    # every chunk stored so far ends a line; count the bytes of their text (both dialects)
    op.execute(
        "UPDATE log_chunks SET size = length(CAST(text AS BLOB))"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE log_chunks SET size = octet_length(text)"
    )


def downgrade() -> None:
    with op.batch_alter_table("log_chunks", schema=None) as batch_op:
        batch_op.drop_column("file_offset")
        batch_op.drop_column("size")
        batch_op.drop_column("unterminated")
