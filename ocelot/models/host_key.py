"""SSH host keys pinned on first use, for the worker's own fetches over ssh.

When an account's ssh credential carries no ``known_hosts``, the first fetch from a host trusts
the key the host shows (``StrictHostKeyChecking=accept-new``) and the key is stored here, per
host and key type. Every later fetch from that host checks against these rows
(``StrictHostKeyChecking=yes``), so a changed key — a re-installed server, or someone in the
middle — fails the build with a clear reason instead of being trusted silently.

``host`` is written as in a known_hosts file: ``github.com`` for port 22, ``[host]:port``
otherwise; ``key`` is the base64 key blob.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ocelot.models.base import Base, UTCDateTime, utcnow


class HostKey(Base):
    __tablename__ = "ssh_host_keys"
    __table_args__ = (UniqueConstraint("host", "key_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(300))
    key_type: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
