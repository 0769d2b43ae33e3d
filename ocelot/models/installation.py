"""The installation: one row naming this Ocelot installation for good.

Build ids are unique only within one database, so everything an installation leaves outside
it (container and volume names, labels the janitor matches) carries the installation id. It
is made once, by the first migration that creates this table, and read from here by every
host, so two spellings of one database URL (``@localhost`` and ``@127.0.0.1``) can no longer
give two ids. ``OCELOT_INSTANCE`` still overrides it (two installations on one database are
not a thing; two test stacks on one Docker daemon are).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ocelot.models.base import Base, UTCDateTime, utcnow


class Installation(Base):
    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    instance: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
