"""Credentials: what Ocelot knows *about* a secret, never the secret itself.

A :class:`Credential` row is the metadata of one credential of an account: its type, its
identifier, and non-secret fields (a username, a registry URL). The secret values live in the
secret backend (:mod:`ocelot.secrets`) under the path ``<acct>/<type>/<identifier>``.

:class:`SecretValue` is the storage of the *database* backend only: one Fernet token per
path (see :mod:`ocelot.secrets.database`). With Vault configured the table stays empty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ocelot.models.base import Base, UTCDateTime, iso, utcnow
from ocelot.secrets.redaction import MASK


class Credential(Base):
    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("acct", "ctype", "identifier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    acct: Mapped[str] = mapped_column(String(200), index=True)
    ctype: Mapped[str] = mapped_column(String(20))
    identifier: Mapped[str] = mapped_column(String(200))
    fields: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Names (never values) of the secret fields stored in the backend, e.g. ["password"].
    secret_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Scope (like GitLab's protected variables): the build events and branch/tag patterns
    # (fnmatch globs) whose builds get this credential. NULL events = every trusted event;
    # NULL branches = every branch. Untrusted builds never get any credential.
    events: Mapped[list[str] | None] = mapped_column(JSON)
    branches: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def path(self) -> str:
        return secret_path(self.acct, self.ctype, self.identifier)

    def to_dict(self) -> dict[str, Any]:
        """Safe to show anyone with API access: every secret field reads ``*****``."""
        return {
            "id": self.id,
            "acct": self.acct,
            "type": self.ctype,
            "identifier": self.identifier,
            "fields": dict(self.fields or {}),
            "secrets": {name: MASK for name in self.secret_fields or []},
            "events": list(self.events) if self.events else None,
            "branches": list(self.branches) if self.branches else None,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


class SecretValue(Base):
    """An encrypted secret of the database backend (a Fernet token of JSON)."""

    __tablename__ = "secret_values"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(700), unique=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def secret_path(acct: str, ctype: str, identifier: str) -> str:
    return f"{acct}/{ctype}/{identifier}"
