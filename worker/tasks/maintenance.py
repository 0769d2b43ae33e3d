"""Periodic tasks run by beat, and the queue-publishing helpers they share.

* ``reap``: running builds whose lease expired (worker SIGKILLed, OOM, host gone) are
  abandoned with ``worker lost: <name>`` and queued again as a new attempt (or failed once
  the retry cap is reached). See :mod:`ocelot.runner.recovery`.
* ``reconcile``: builds QUEUED in the database whose wake-up message is no longer in Redis
  (broker restarted, message lost) are published again. Duplicates are harmless: ``route``
  acts only on QUEUED rows and ``prepare`` claims with a compare-and-set.
* ``janitor``: removes leftovers (containers, volumes, workspaces) labelled with this worker
  whose build attempt is no longer running.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import select

from ocelot.db import session_scope
from ocelot.executors import BuildKey
from ocelot.models import Build
from ocelot.models.build import RUNNING
from ocelot.runner.recovery import reap as reap_builds
from ocelot.runner.recovery import stale_queued
from ocelot.runner.route import queue_for
from worker.app import app, send_route
from worker.context import get_context

log = logging.getLogger(__name__)


def _ctx():  # type: ignore[no-untyped-def]
    return get_context(app.conf.ocelot_settings)


def send_prepare(build_id: int, queue: str) -> None:
    app.send_task("ocelot.builds.prepare", args=[build_id], queue=queue)


@app.task(name="ocelot.maintenance.ping")
def ping(reply_to: str | None = None) -> None:
    """Do nothing but answer on a Redis list: a liveness probe, and the floor that the
    benchmarks compare a build's chain with."""
    if reply_to:
        _ctx().redis.rpush(reply_to, b"pong")


@app.task(name="ocelot.maintenance.reap")
def reap() -> int:
    done = reap_builds(_ctx())
    for result in done:
        if result.requeue_to:
            send_prepare(result.build_id, result.requeue_to)
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


@app.task(name="ocelot.maintenance.reconcile")
def reconcile() -> int:
    ctx = _ctx()
    count = 0
    for build_id, routed in stale_queued(ctx):
        with session_scope(ctx.engine) as session:
            tag = session.scalar(select(Build.machine_tag).where(Build.id == build_id))
        queue = queue_for(tag) if routed else "control"
        if _waiting_in_redis(ctx.redis, queue, build_id):
            continue  # its message is there; it waits for a worker, nothing was lost
        if routed:
            send_prepare(build_id, queue)
        else:
            send_route(app, build_id)
        count += 1
    if count:
        log.warning("reconcile: published %s lost build message(s) again", count)
    return count


def live_attempts(ctx) -> set[BuildKey]:  # type: ignore[no-untyped-def]
    with session_scope(ctx.engine) as session:
        rows = session.execute(select(Build.id, Build.attempt).where(Build.status == RUNNING))
        return {BuildKey(build_id, attempt) for build_id, attempt in rows}


def clean_leftovers(ctx) -> list[str]:  # type: ignore[no-untyped-def]
    """Remove this worker's containers/volumes/workspaces of attempts that are not running."""
    live = live_attempts(ctx)
    removed = ctx.executor.cleanup(ctx.settings.worker_name, lambda key: key in live)
    if removed:
        log.warning("janitor: removed %s", ", ".join(removed))
    return list(removed)


@app.task(name="ocelot.maintenance.janitor")
def janitor() -> list[str]:
    """This worker's leftovers, then (Docker) every old Ocelot container and dangling image."""
    ctx = _ctx()
    removed = clean_leftovers(ctx)
    if ctx.settings.worker_executor == "docker":
        from ocelot.executors.janitor import prune

        live = live_attempts(ctx)
        freed = prune(
            ctx.executor.client(),
            lambda key: key in live,
            timedelta(seconds=ctx.settings.janitor_age_seconds),
            ctx.settings.instance,
        )
        log.info("janitor: %s", freed.summary())
        removed.extend(freed.removed)
    return removed
