"""Log chunks: a build's output, stored durably as it is produced.

Each chunk has a per-build sequence number ``seq``; live followers use it to splice the stored
replay and the Redis tail together with no gap and no duplicate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ocelot.models.base import Base, UTCDateTime, utcnow


def _newlines(context: Any) -> int:
    """Default for ``lines``: the newlines in the row's text."""
    return str(context.get_current_parameters().get("text") or "").count("\n")


class LogChunk(Base):
    __tablename__ = "log_chunks"
    __table_args__ = (UniqueConstraint("build_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    stage: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    # newlines in ``text``: a chunk's first line number is 1 + the lines of the chunks before it
    lines: Mapped[int] = mapped_column(Integer, default=_newlines, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
