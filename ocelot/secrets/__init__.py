"""Secret storage and log redaction.

:func:`open_backend` picks the backend by settings: Vault (:mod:`ocelot.secrets.vault`) when
``VAULT_ADDR`` is set, else the encrypted database (:mod:`ocelot.secrets.database`). The
contract both implement is :class:`ocelot.secrets.base.SecretBackend`. Credential metadata
and the use-cases (add, list, delete, read) are in :mod:`ocelot.services.credentials`;
redaction of build logs is :mod:`ocelot.secrets.redaction`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocelot.secrets.base import SecretBackend, SecretValues

if TYPE_CHECKING:  # importing the package stays light: the CLI uses ocelot.secrets.redaction
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from ocelot.settings import Settings

__all__ = ["SecretBackend", "SecretValues", "check_secret_store", "open_backend"]


def open_backend(settings: Settings, session: Session) -> SecretBackend:
    """The configured backend, bound to ``session`` (see the lifecycle in ``base``)."""
    if settings.vault_addr:
        from ocelot.secrets.vault import VaultBackend

        return VaultBackend(settings)
    from ocelot.secrets.database import DatabaseBackend

    return DatabaseBackend(session, settings.secret_key)


def check_secret_store(settings: Settings, engine: Engine) -> None:
    """Start-up check of every process: raise :class:`~ocelot.errors.SecretError` with a
    clear message when stored secrets cannot be read (key missing or wrong, Vault token
    refused). An unmigrated database is left to the database check."""
    from sqlalchemy import inspect

    from ocelot.db import session_scope

    with engine.connect() as conn:
        if not settings.vault_addr and not inspect(conn).has_table("secret_values"):
            return
    with session_scope(engine) as session:
        open_backend(settings, session).check()
