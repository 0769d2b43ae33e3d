"""A repository's webhook at its forge, and the PR comments Ocelot keeps editing.

The HMAC key the forge signs deliveries with is not here: it cannot be stored as a digest
(verifying an HMAC needs the key itself), so it lives in the secret store (encrypted in the
database, or Vault) at ``hooks/<repo id>/webhook``. ``forge_hook_id`` is the id the forge gave the
hook when ``ocelot watch`` installed it, so ``ocelot unwatch`` removes exactly that hook.

``PrComment`` remembers the one comment Ocelot wrote on a pull request, so later builds of the
same PR edit it instead of adding another.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ocelot.models.base import Base, UTCDateTime, utcnow


class RepoHook(Base):
    __tablename__ = "repo_hooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), unique=True)
    forge_hook_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    installed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PrComment(Base):
    __tablename__ = "pr_comments"
    __table_args__ = (UniqueConstraint("repo_id", "pr_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    pr_id: Mapped[str] = mapped_column(String(50))
    comment_id: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
