"""Webhook deliveries: every request a forge sent for a tracked repository, and its verdict.

An admin reads these to learn why a hook did or did not build (``GET
/api/v1/repos/ACCT/REPO/deliveries``). ``headers`` are stored without secret values.

``dedupe_key`` is set only on the delivery that *claimed* an id (a verified one); the unique
constraint makes a concurrent redelivery fail to claim it, so one delivery id makes at most one
build. Rejected and duplicate deliveries keep ``dedupe_key`` NULL (NULLs never collide), so an
attacker cannot pre-claim a delivery id with an unsigned request.

``body_digest`` is the SHA-256 (hex) of the raw body. A verified body that was already
*accepted* for the same repository in the last 24 hours is a replay (a captured delivery sent
again under a new delivery id) and is answered ``duplicate`` without building.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ocelot.models.base import Base, UTCDateTime, iso, utcnow


class Delivery(Base):
    __tablename__ = "hook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    forge: Mapped[str] = mapped_column(String(20))
    delivery_id: Mapped[str | None] = mapped_column(String(200))
    dedupe_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    repo_id: Mapped[int | None] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), index=True
    )
    repo_name: Mapped[str | None] = mapped_column(String(500))
    event: Mapped[str | None] = mapped_column(String(100))
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    verdict: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    status_code: Mapped[int] = mapped_column(Integer)
    build_id: Mapped[int | None] = mapped_column(ForeignKey("builds.id", ondelete="SET NULL"))
    body_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "forge": self.forge,
            "delivery_id": self.delivery_id,
            "repo": self.repo_name,
            "event": self.event,
            "verdict": self.verdict,
            "reason": self.reason,
            "status_code": self.status_code,
            "build_id": self.build_id,
            "received_at": iso(self.received_at),
            "headers": dict(self.headers or {}),
        }
