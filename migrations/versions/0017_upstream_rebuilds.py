"""The one-downstream-build-per-upstream-build index becomes partial (``trigger =
'upstream'``) and leads with ``upstream_build_id``: a rebuild of a downstream build keeps its
upstream (``OCELOT_UPSTREAM_*``) without counting as a second downstream build, and the
build page finds the builds an upstream build triggered through the index.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_UPSTREAM = sa.text("trigger = 'upstream'")


def upgrade() -> None:
    op.drop_index("uq_builds_upstream", table_name="builds")
    op.create_index(
        "uq_builds_upstream",
        "builds",
        ["upstream_build_id", "repo_id", "pipeline"],
        unique=True,
        sqlite_where=_UPSTREAM,
        postgresql_where=_UPSTREAM,
    )


def downgrade() -> None:
    # rebuilds that kept their upstream would break the old, total index: they forget it
    op.execute("UPDATE builds SET upstream_build_id = NULL WHERE trigger <> 'upstream'")
    op.drop_index("uq_builds_upstream", table_name="builds")
    op.create_index(
        "uq_builds_upstream", "builds", ["repo_id", "upstream_build_id", "pipeline"], unique=True
    )
