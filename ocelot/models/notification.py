"""Notification attempts: one row per try to deliver a build's notice on one channel.

A row is written (``sending``) *before* the transport is called and settled afterwards
(``sent``, ``retrying``, ``failed``), so the history of a delivery — including the attempts
that failed and were retried — is visible on the build. ``target`` names where the notice
went without any secret (a Slack channel and credential identifier, email addresses).
The unique ``(build_id, channel, attempt)`` lets two concurrent deliveries of the same task
race safely: the loser's insert fails and it sends nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ocelot.models.base import Base, UTCDateTime, iso, utcnow
from ocelot.status import NotificationOutcome


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("build_id", "channel", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # "slack" | "email"
    target: Mapped[str] = mapped_column(String(1000))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    outcome: Mapped[str] = mapped_column(String(20), default=NotificationOutcome.SENDING)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "target": self.target,
            "attempt": self.attempt,
            "outcome": self.outcome,
            "error": self.error,
            "at": iso(self.created_at),
            "finished_at": iso(self.finished_at),
        }
