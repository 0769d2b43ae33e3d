"""Log chunks: a build's output, stored durably as it is produced.

Each chunk has a per-build sequence number ``seq``; live followers use it to splice the stored
replay and the Redis tail together with no gap and no duplicate.

A chunk may end inside a line (``unterminated``: a line flushed before its newline came);
the next chunk of the same attempt and stage continues that line. Its text is in ``text``,
or, with the file store (:mod:`ocelot.logstore`), ``size`` bytes at ``file_offset`` of the
build's log file, ``text`` then being empty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ocelot.models.base import Base, UTCDateTime, utcnow


def _newlines(context: Any) -> int:
    """Default for ``lines``: the newlines in the row's text."""
    return str(context.get_current_parameters().get("text") or "").count("\n")


def _octets(context: Any) -> int:
    """Default for ``size``: the UTF-8 bytes of the row's text."""
    return len(str(context.get_current_parameters().get("text") or "").encode())


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
    # the text ends inside a line, which the next chunk of its section continues
    unterminated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    size: Mapped[int] = mapped_column(Integer, default=_octets, server_default="0")  # bytes
    # None: the text is in ``text``; else where it starts in the build's log file
    file_offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
