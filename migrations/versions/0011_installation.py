"""Installation id: made once and stored, instead of derived from the database URL's text.

Existing installations keep the id they had (the hash of their URL, which is how their
containers are named), so nothing they left running is orphaned; new ones get a random id.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 22:10:00
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    bind = op.get_bind()
    has_builds = bind.execute(sa.text("SELECT count(*) FROM builds")).scalar_one() > 0
    if has_builds:  # named its containers after the URL it was reached by: keep that name
        url = context.config.get_main_option("sqlalchemy.url") or ""  # the settings' text
        instance = hashlib.sha256(url.encode()).hexdigest()[:8]
    else:
        instance = secrets.token_hex(4)
    op.bulk_insert(
        table,
        [{"id": 1, "instance": instance, "created_at": datetime.now(UTC).replace(tzinfo=None)}],
    )


def downgrade() -> None:
    op.drop_table("installation")
