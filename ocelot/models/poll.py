"""Polls: look at a repository on a cron schedule and build new commits of watched branches.

``branches`` is a list of branch names, or ``["ALL"]`` for every branch (new branches are
discovered on each poll). ``last_hashes`` maps branch → the head seen last time; a branch whose
head moved gets one build with the changeset since that hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ocelot.models.base import Base, UTCDateTime, iso, utcnow
from ocelot.models.repo import Repo

ALL = "ALL"


class Poll(Base):
    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), unique=True)
    cron: Mapped[str] = mapped_column(String(100))
    branches: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_hashes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    repo: Mapped[Repo] = relationship(lazy="joined")

    @property
    def all_branches(self) -> bool:
        return ALL in (self.branches or [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "repo": self.repo.full_name,
            "cron": self.cron,
            "branches": list(self.branches or []),
            "last_hashes": dict(self.last_hashes or {}),
            "last_polled_at": iso(self.last_polled_at),
            "last_error": self.last_error,
            "created_at": iso(self.created_at),
        }
