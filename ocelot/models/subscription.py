"""A subscription: a downstream repository is built when an upstream repository's branch
passes (``ocelot subscribe``, :mod:`ocelot.services.subscriptions`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ocelot.models.base import Base, UTCDateTime, iso, utcnow
from ocelot.models.repo import Repo

# The branch a subscription names when its caller names none, on either side.
DEFAULT_BRANCH = "master"


class Subscription(Base):
    __tablename__ = "subscriptions"
    # one subscription per (downstream, upstream, upstream branch); the name is the one the
    # naming convention gives (migration 0013)
    __table_args__ = (
        UniqueConstraint(
            "downstream_id",
            "upstream_id",
            "upstream_branch",
            name="uq_subscriptions_downstream_id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    downstream_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    upstream_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    upstream_branch: Mapped[str] = mapped_column(String(500))
    downstream_branch: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    downstream: Mapped[Repo] = relationship(foreign_keys=[downstream_id], lazy="joined")
    upstream: Mapped[Repo] = relationship(foreign_keys=[upstream_id], lazy="joined")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "downstream": self.downstream.full_name,
            "downstream_branch": self.downstream_branch,
            "upstream": self.upstream.full_name,
            "upstream_branch": self.upstream_branch,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
        }
