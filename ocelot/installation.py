"""The installation id: which Ocelot installation a container, volume or label belongs to.

It is stored once, in the one-row ``installation`` table (migration 0011,
:class:`ocelot.models.Installation`), so every host reading the same database gets the same
id however it spells the database URL (``@localhost`` or ``@127.0.0.1``). ``OCELOT_INSTANCE``
(``settings.instance``) still overrides it. Settings are built without a database, so the
id is resolved here, lazily, where an engine exists (the run context, the janitor, tests),
and read at most once per process and database URL.
"""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ocelot.db import session_scope
from ocelot.errors import DependencyUnavailable
from ocelot.models import Installation
from ocelot.retrying import is_transient
from ocelot.settings import Settings

_cache: dict[str, str] = {}
_lock = threading.Lock()


def instance_id(settings: Settings, engine: Engine) -> str:
    """``OCELOT_INSTANCE`` when set, else the id stored in the database (read once per
    process). Raises :class:`DependencyUnavailable` when the database has no installation
    row (not migrated) or cannot be read, and a transient database error (connection lost,
    server restarting) as it came, for :func:`ocelot.retrying.retry_db`."""
    if settings.instance:
        return settings.instance
    url = engine.url.render_as_string(hide_password=False)
    with _lock:
        cached = _cache.get(url)
        if cached is not None:
            return cached
        try:
            with session_scope(engine) as session:
                stored = session.scalar(select(Installation.instance).where(Installation.id == 1))
        except SQLAlchemyError as exc:
            if is_transient(exc):
                raise  # a blip: callers that ride one out (retry_db) try again
            raise DependencyUnavailable(
                f"cannot read the installation id from the database: {getattr(exc, 'orig', exc)} "
                "(is it migrated? `ocelot admin migrate`)"
            ) from None
        if not stored:
            raise DependencyUnavailable(
                "the database has no installation id: run `ocelot admin migrate`"
            )
        _cache[url] = stored
        return stored


def forget() -> None:
    """Drop the cached ids (tests that recreate a database under the same URL)."""
    with _lock:
        _cache.clear()
