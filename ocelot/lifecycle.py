"""The one function that moves a build between states, and refuses the moves that are bugs.

Every change of ``Build.status`` goes through :func:`move` (inside the caller's transaction),
which also keeps the fields that belong to a state in step: a finished build has
``finished_at`` and no lease or pending reason; a queued build has a pending reason and no
worker lease. The allowed moves are :data:`ocelot.status.BUILD_MOVES`. The one exception is
``prepare``'s claim, a compare-and-set ``UPDATE ... WHERE status = 'QUEUED'`` that must stay a
single statement so two workers cannot both win; it checks the same table.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import object_session

from ocelot import metrics
from ocelot.errors import Conflict
from ocelot.models import Build, utcnow
from ocelot.pipeline.layout import skip_reason, upstream_failed
from ocelot.status import BUILD_MOVES, FINISHED, BuildStatus


class IllegalMove(Conflict):
    """A build was asked to make a move the state machine does not have."""


def can_move(current: str, to: BuildStatus) -> bool:
    return to in BUILD_MOVES.get(BuildStatus(current), frozenset())


def move(
    build: Build, to: BuildStatus, reason: str | None = None, *, pending: str | None = None
) -> Build:
    """Move ``build`` to ``to``. ``reason`` is the failure reason of a finished build;
    ``pending`` says why a build waits (QUEUED, PENDING_APPROVAL). Raises :class:`IllegalMove`
    (409) for a move the state machine does not allow, e.g. from a finished state."""
    if not can_move(build.status, to):
        raise IllegalMove(f"build {build.id} cannot go from {build.status} to {to}")
    build.status = to
    if to in FINISHED:
        build.failure_reason = reason
        build.finished_at = build.finished_at or utcnow()
        build.lease_until = None
        build.pending_reason = None
        metrics.build_finished(build)
    elif to in (BuildStatus.QUEUED, BuildStatus.PENDING_APPROVAL):
        build.pending_reason = pending
        build.lease_until = None
    if to in FINISHED:
        _skip_dependents(build)
    return build


def _skip_dependents(build: Build) -> None:
    """Builds waiting for ``build`` (``depends_on``, see ocelot.runner.pipelines) cannot run
    once it ended without passing: they are SKIPPED with the reason in the same transaction,
    and so on down the chain. Those of a passed build are released after the commit."""
    session = object_session(build)
    if session is None or not upstream_failed(build.status, build.failure_reason):
        return
    waiting = session.scalars(
        select(Build).where(Build.waiting_for == build.id, Build.status == BuildStatus.QUEUED)
    ).all()
    for dependent in waiting:
        move(dependent, BuildStatus.SKIPPED, skip_reason(build.pipeline, build.id, build.status))
