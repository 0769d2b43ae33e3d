"""Periodic tasks run by beat.

* ``reap``: running builds whose lease expired (worker SIGKILLed, OOM, host gone) are
  abandoned with ``worker lost: <name>`` and queued again as a new attempt (or failed once
  the retry cap is reached). See :mod:`ocelot.runner.recovery`.
* ``reconcile``: builds QUEUED in the database whose wake-up message is no longer in Redis
  (broker restarted, message lost) are published again. Duplicates are harmless: ``route``
  acts only on QUEUED rows and ``prepare`` claims with a compare-and-set.
* ``janitor``: fans out to every live worker's own queue (``janitor_here``), which removes
  that host's leftovers (containers, volumes, workspaces) labelled with the worker whose
  build attempt is no longer running, except what failed builds keep for debugging
  (``OCELOT_KEEP_CONTAINERS``) until ``OCELOT_JANITOR_AGE``. See :mod:`ocelot.runner.leftovers`.
  Likewise the reaper asks a dead attempt's own worker (``destroy`` on its own queue) to
  remove its containers: only that host's Docker has them; a dead host finds the message
  when it comes back (and cleans up at start anyway).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import select

from ocelot import logstore, queues
from ocelot.db import session_scope
from ocelot.executors import BuildKey
from ocelot.models import Build
from ocelot.runner import leftovers
from ocelot.runner.context import RunContext
from ocelot.runner.pipelines import release_stranded
from ocelot.runner.recovery import may_judge_leases, stale_queued
from ocelot.runner.recovery import reap as reap_builds
from ocelot.services.workers import list_workers
from ocelot.status import WorkerState
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
    ctx = self.ctx
    done = reap_builds(ctx, judge_leases=may_judge_leases(ctx))
    for result in done:
        if result.requeue_to:
            queues.send_prepare(app, result.build_id, result.requeue_to)
        if result.owner and result.owner != ctx.settings.worker_name:
            queues.send_destroy(app, result.owner, result.build_id, result.attempt)
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
    """Beat's janitor, taken by any host: hand it to every live worker's own queue, so each
    host cleans its own Docker and disk (one host cannot reach another's). Logs of builds
    past ``OCELOT_LOG_RETENTION_DAYS`` are removed here, once (:func:`ocelot.logstore.prune`)."""
    with session_scope(self.ctx.engine) as session:
        alive = [w.name for w in list_workers(session) if w.state == WorkerState.ALIVE]
    for name in alive:
        queues.send_janitor_here(app, name)
    days = self.ctx.settings.log_retention_days  # OCELOT_LOG_RETENTION_DAYS
    if days and (pruned := logstore.prune(self.ctx.engine, days)):
        log.info("janitor: removed the logs of %s build(s) finished over %s days ago", pruned, days)
    return alive


@app.task(name=queues.MAINTENANCE_DESTROY, bind=True)
def destroy(self: OcelotTask, build_id: int, attempt: int) -> None:
    """Remove a dead attempt's containers and volume, on the host that ran it."""
    self.ctx.executor.destroy(BuildKey(build_id, attempt))


@app.task(name=queues.MAINTENANCE_JANITOR_HERE, bind=True)
def janitor_here(self: OcelotTask) -> list[str]:
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
