"""A worker of the registry: one row per worker *name*, owned by one boot of one process.

``python -m worker`` registers itself before it starts consuming (see
:mod:`ocelot.services.workers`): the row says where the worker runs (host, pid), what it can
take (executor, tags, capacity), which code it runs (version) and which start of it holds the
name now (``boot_id``, new on every start). A heartbeat thread keeps ``last_seen_at`` fresh
every ``heartbeat_seconds`` (``OCELOT_WORKER_HEARTBEAT``, recorded per worker because the
hosts may be configured differently); a clean shutdown sets ``stopped_at``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ocelot.models.base import Base, UTCDateTime, utcnow


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    executor: Mapped[str] = mapped_column(String(20))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(50))
    boot_id: Mapped[str] = mapped_column(String(32))
    pid: Mapped[int] = mapped_column(Integer)
    heartbeat_seconds: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
