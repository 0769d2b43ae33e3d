"""When to notify: a build's *events* and whether a channel's ``on`` list wants any of them.

Events of a finished build:

* ``PASS`` — the build passed (``PASSED``);
* ``FAIL`` — the build failed (``FAILED``, or ``FAILED_PRESTART``: it could not even start);
* ``FIXED`` — it passed and the previous build of the same branch failed;
* ``CHANGED`` — its result (pass / fail) differs from the previous build of the same branch.

Killed and branch-filtered (``SKIPPED``) builds have no result: they notify nobody and are
passed over when looking for "the previous build". The first build of a branch is neither
``FIXED`` nor ``CHANGED``. Builds without a branch (tag builds) have no previous build.
Everything here is pure except :func:`previous_result`, one query.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ocelot.models import Build
from ocelot.status import BuildStatus

PASS, FAIL, FIXED, CHANGED = "PASS", "FAIL", "FIXED", "CHANGED"
EVENTS = (PASS, FAIL, FIXED, CHANGED)
_RESULTS: dict[str, str] = {
    BuildStatus.PASSED: PASS,
    BuildStatus.FAILED: FAIL,
    BuildStatus.FAILED_PRESTART: FAIL,
}


def result_of(status: str) -> str | None:
    """``PASS`` / ``FAIL`` for a build status, ``None`` for one that has no result."""
    return _RESULTS.get(status)


def events(status: str, previous: str | None) -> frozenset[str]:
    """The events of a build with ``status`` whose branch's previous result was ``previous``
    (``PASS``, ``FAIL`` or ``None`` when there is none)."""
    result = result_of(status)
    if result is None:
        return frozenset()
    found = {result}
    if previous is not None and previous != result:
        found.add(CHANGED)
        if result == PASS:
            found.add(FIXED)
    return frozenset(found)


def wanted(on: Iterable[str], build_events: Iterable[str]) -> list[str]:
    """The events of ``on`` (case-insensitive) that the build has, in ``EVENTS`` order.
    Empty means: do not notify."""
    asked = {str(item).strip().upper() for item in on}
    have = set(build_events)
    return [event for event in EVENTS if event in asked and event in have]


def previous_result(session: Session, build: Build) -> str | None:
    """Result of the newest earlier build of the same repo and branch that has one."""
    if not build.branch:
        return None
    status = session.scalar(
        select(Build.status)
        .where(
            Build.repo_id == build.repo_id,
            Build.branch == build.branch,
            Build.id < build.id,
            Build.status.in_(tuple(_RESULTS)),
        )
        .order_by(Build.id.desc())
        .limit(1)
    )
    return result_of(status) if status else None
