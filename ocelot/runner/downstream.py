"""Upstream → downstream, at run time: after ``finish`` committed a PASSED build, queue the
builds of the repositories subscribed to its branch and record them on the context
(``ctx.wake``: ``task_postrun`` publishes their ``route`` after the task, like the builds
of other pipelines). The rules are :mod:`ocelot.services.subscriptions`'."""

from __future__ import annotations

import logging

from ocelot.db import session_scope
from ocelot.models import Build
from ocelot.retrying import outage_budget, retry_db
from ocelot.runner.context import RunContext
from ocelot.services.subscriptions import trigger_downstream
from ocelot.status import BuildStatus

log = logging.getLogger(__name__)


def upstream_passed(ctx: RunContext, build_id: int, status: str) -> list[int]:
    """Queue and wake the downstream builds of ``build_id`` when it ended PASSED (a no-op
    otherwise, and on a redelivered finish). Never raises: the build's result stands."""
    if status != BuildStatus.PASSED:
        return []

    def queue() -> list[int]:
        with session_scope(ctx.engine) as session:
            build = session.get(Build, build_id)
            return trigger_downstream(session, build) if build is not None else []

    try:  # a busy or restarting database is waited out: nothing else would queue them
        queued = retry_db(
            queue,
            what=f"queueing the downstream builds of build {build_id}",
            budget=outage_budget(ctx.settings),
        )
    except Exception:  # a passed build must not fail for its subscribers
        log.exception("build %s passed but its downstream builds could not be queued", build_id)
        return []
    for downstream in queued:
        log.info("build %s passed: queued downstream build %s", build_id, downstream)
        ctx.wake(downstream)
    return queued
