"""Which report tasks a build's announcement calls for (:func:`worker.signals.announce`).

A started or finished build may call for a forge status, a pull-request comment and (when
finished) its notices. Each is a task on the worker's own prefork pool, beside the builds'
steps; a repository with no forge API, a build of no pull request, or an ``ocelot.yml``
with no ``notify`` block would make the task find nothing to do. :func:`due` asks the
questions those tasks ask first, for every announced build in one query, so those tasks are
not sent. When the database cannot answer, everything is sent, as before: the tasks decide
for themselves, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.models import Build
from ocelot.services.forge_reports import reportable
from ocelot.services.notifications import notify_config


@dataclass(frozen=True)
class Due:
    """The report tasks one announcement calls for."""

    notices: bool
    status: bool
    comment: bool


EVERYTHING = Due(notices=True, status=True, comment=True)


def due(engine: Engine, build_ids: Iterable[int]) -> dict[int, Due]:
    """What each of ``build_ids`` calls for (a build that is gone calls for nothing).
    Notices are only ever sent for finished builds; the caller checks that."""
    ids = sorted(set(build_ids))
    if not ids:
        return {}
    found: dict[int, Due] = {}
    with session_scope(engine) as session:
        for build in session.scalars(select(Build).where(Build.id.in_(ids))).unique():
            forge = reportable(build)
            found[build.id] = Due(
                notices=bool(notify_config(build)),
                status=forge,
                comment=forge and bool(build.pr_id),
            )
    return {build_id: found.get(build_id, Due(False, False, False)) for build_id in ids}
