"""Periodic tasks run by beat.

* ``reap``: running builds whose lease expired (worker SIGKILLed, OOM, host gone) are
  abandoned with ``worker lost: <name>`` and queued again as a new attempt (or failed once
  the retry cap is reached). See :mod:`ocelot.runner.recovery`.
* ``reconcile``: builds QUEUED in the database whose wake-up message is no longer in Redis
  (broker restarted, message lost) are published again. Duplicates are harmless: ``route``
  acts only on QUEUED rows and ``prepare`` claims with a compare-and-set.
* ``janitor``: removes leftovers (containers, volumes, workspaces) labelled with this worker
  whose build attempt is no longer running, except what failed builds keep for debugging
  (``OCELOT_KEEP_CONTAINERS``) until ``OCELOT_JANITOR_AGE``. See :mod:`ocelot.runner.leftovers`.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import select

from ocelot import queues
from ocelot.db import session_scope
from ocelot.models import Build
from ocelot.runner import leftovers
from ocelot.runner.context import RunContext
from ocelot.runner.pipelines import release_stranded
from ocelot.runner.recovery import may_judge_leases, stale_queued
from ocelot.runner.recovery import reap as reap_builds
from worker.app import app
from worker.base import OcelotTask

log = logging.getLogger(__name__)


@app.task(name=queues.MAINTENANCE_PING, bind=True)
def ping(self: OcelotTask, reply_to: str | None = None) -> None:
    """Do nothing but answer on a Redis list: a liveness probe, and the floor that the
    benchmarks compare a build's chain with."""
    if reply_to and self.ctx.redis is not None:
        self.ctx.redis.rpush(reply_to, b"pong")


@app.task(name=queues.MAINTENANCE_REAP, bind=True)
def reap(self: OcelotTask) -> int:
    """Builds that failed here (no retries left) are announced when the task ends."""
    done = reap_builds(self.ctx, judge_leases=may_judge_leases(self.ctx))
    for result in done:
        if result.requeue_to:
            queues.send_prepare(app, result.build_id, result.requeue_to)
    return len(done)


def _waiting_in_redis(redis, queue: str, build_id: int) -> bool:  # type: ignore[no-untyped-def]
    """Is a message for ``build_id`` still sitting in ``queue`` (kombu's Redis list)?"""
    wanted = f"[{build_id}]"
    for raw in redis.lrange(queue, 0, -1):
        try:
            headers = json.loads(raw).get("headers") or {}
        except ValueError:
            continue
        if headers.get("argsrepr") == wanted and str(headers.get("task", "")).startswith(
            "ocelot.builds."
        ):
            return True
    return False


@app.task(name=queues.MAINTENANCE_RECONCILE, bind=True)
def reconcile(self: OcelotTask) -> int:
    ctx = self.ctx
    count = len(release_stranded(ctx))  # builds waiting for an ended build (depends_on)
    for build_id, routed in stale_queued(ctx):
        with session_scope(ctx.engine) as session:
            tag = session.scalar(select(Build.machine_tag).where(Build.id == build_id))
        queue = queues.builds_queue(tag) if routed else queues.CONTROL
        if _waiting_in_redis(ctx.redis, queue, build_id):
            continue  # its message is there; it waits for a worker, nothing was lost
        if routed:
            queues.send_prepare(app, build_id, queue)
        else:
            queues.send_route(app, build_id)
        count += 1
    if count:
        log.warning("reconcile: published %s lost build message(s) again", count)
    return count


def clean_leftovers(ctx: RunContext) -> list[str]:
    """Remove this worker's containers/volumes/workspaces of attempts that are neither
    running nor kept for debugging (``OCELOT_KEEP_CONTAINERS``, until ``OCELOT_JANITOR_AGE``):
    :func:`ocelot.runner.leftovers.clean`. Also run when the worker starts."""
    return leftovers.clean(ctx)


@app.task(name=queues.MAINTENANCE_JANITOR, bind=True)
def janitor(self: OcelotTask) -> list[str]:
    """This worker's leftovers, then (Docker) every old Ocelot container and dangling image;
    running attempts and young kept ones are spared."""
    ctx = self.ctx
    removed = clean_leftovers(ctx)
    executor = ctx.executor
    if ctx.settings.worker_executor == "docker":
        from ocelot.executors.docker import DockerExecutor
        from ocelot.executors.janitor import prune

        assert isinstance(executor, DockerExecutor)
        freed = prune(
            executor.client(),
            leftovers.spared(ctx),
            timedelta(seconds=ctx.settings.janitor_age_seconds),
            ctx.instance,
        )
        leftovers.forget_expired(ctx)
        log.info("janitor: %s", freed.summary())
        removed.extend(freed.removed)
    return removed
