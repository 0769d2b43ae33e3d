"""A repository Ocelot tracks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ocelot.forges import DEFAULT_VCS_TYPE
from ocelot.models.base import Base, UTCDateTime, iso, utcnow

# What happens to an untrusted pull request (ocelot repos set --fork-prs):
# wait for approval (default), run at once (still without credentials), or ignore it.
FORK_PR_POLICIES = ("approve", "run", "ignore")
# Which pull requests are untrusted (--untrusted-prs): those from forks, or all of them.
UNTRUSTED_PRS = ("forks", "all")


class Repo(Base):
    __tablename__ = "repos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    acct: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(401), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    vcs_type: Mapped[str] = mapped_column(String(20), default=DEFAULT_VCS_TYPE)
    group: Mapped[str | None] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fork_prs: Mapped[str] = mapped_column(String(20), default="approve")
    untrusted_prs: Mapped[str] = mapped_column(String(20), default="forks")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "full_name": self.full_name,
            "acct": self.acct,
            "name": self.name,
            "url": self.url,
            "vcs_type": self.vcs_type,
            "group": self.group,
            "created_at": iso(self.created_at),
            "fork_prs": self.fork_prs,
            "untrusted_prs": self.untrusted_prs,
        }
