"""Riding out a database blip: the one retry helper for the worker's writes of a build.

A PostgreSQL restart, a failover or a dropped connection makes SQLAlchemy raise
``OperationalError`` (or a ``DBAPIError`` with ``connection_invalidated``) for a few seconds.
A worker must not take that for a crashed stage: lease renewals, log writes and stage/build
status updates go through :func:`retry_db`, which runs a unit of work (its own
``session_scope``, so every try is a fresh transaction) again with short backoff while the
error is transient, for at most ``budget`` seconds: :func:`outage_budget`. Past the budget
it raises :class:`~ocelot.errors.DatabaseUnreachable` with a reason a person can read
(``database unreachable for 31 s while renewing the lease of build 7``), never a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ocelot.errors import DatabaseUnreachable
from ocelot.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY = 0.1  # seconds before the first retry, doubling ...
MAX_DELAY = 1.0  # ... up to this: an outage's end is noticed within a second
# SQLite raises OperationalError for mistakes too; these are never worth a retry.
_NOT_TRANSIENT = ("no such table", "no such column", "syntax error", "has no column")


def outage_budget(settings: Settings) -> float:
    """How long a worker rides out a database outage before it gives a build up: as long as
    a process waits for the database at start (``OCELOT_DEPENDENCY_TIMEOUT``), and at least
    the build's lease. The lease clock stands still meanwhile: the reaper judges leases only
    after it has reached the database for a whole lease again
    (:func:`ocelot.runner.recovery.may_judge_leases`), so a lease that ran out during the
    outage is renewed in time, and the outage is not a dead worker."""
    return max(settings.lease_seconds, settings.dependency_timeout)


def is_transient(exc: BaseException) -> bool:
    """Is ``exc`` a database error that may go away by itself (connection lost or refused,
    server restarting, pool exhausted, SQLite busy), as opposed to a bug or a conflict?"""
    if isinstance(exc, DisconnectionError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        text = str(exc.orig).lower()
        return not any(marker in text for marker in _NOT_TRANSIENT)
    return False


def reason_of(exc: BaseException) -> str:
    """The driver's one-line reason (psycopg's messages run over several lines)."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()
    return (first[0] if first else type(orig).__name__)[:200]


def retry_db(
    unit: Callable[[], T],
    *,
    what: str,
    budget: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``unit()``, tried again while it fails with a transient database error, for at most
    ``budget`` seconds from the first failure (0: no retry, the error as it came). ``what``
    completes "database unreachable for N s while ..." in the :class:`DatabaseUnreachable`
    raised past it."""
    started: float | None = None
    delay = FIRST_DELAY
    while True:
        try:
            result = unit()
        except Exception as exc:
            if budget <= 0 or not is_transient(exc):
                raise
            now = clock()
            if started is None:
                started = now
                log.warning("database unreachable while %s: %s; retrying", what, reason_of(exc))
            waited = now - started
            if waited >= budget:
                raise DatabaseUnreachable(
                    f"database unreachable for {max(waited, budget):.0f} s while {what} "
                    f"({reason_of(exc)})"
                ) from exc
            sleep(min(delay, budget - waited))
            delay = min(MAX_DELAY, delay * 2)
            continue
        if started is not None:
            log.warning("database reachable again after %.1f s (%s)", clock() - started, what)
        return result
