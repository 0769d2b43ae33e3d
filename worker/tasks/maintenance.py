"""Periodic tasks run by beat.

``reconcile``: builds that are QUEUED in the database but were never picked up (the broker
restarted or lost the message) are published again. Duplicates are harmless: ``route`` only
acts on QUEUED rows and ``prepare`` claims with a compare-and-set.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ocelot.db import session_scope
from ocelot.models import Build, utcnow
from ocelot.models.build import QUEUED
from worker.app import app
from worker.context import get_context

STALE_AFTER = timedelta(minutes=2)


@app.task(name="ocelot.maintenance.ping")
def ping(reply_to: str | None = None) -> None:
    """Do nothing but answer on a Redis list: a liveness probe, and the floor that the
    benchmarks compare a build's chain with."""
    if reply_to:
        get_context(app.conf.ocelot_settings).redis.rpush(reply_to, b"pong")


@app.task(name="ocelot.maintenance.reconcile")
def reconcile() -> int:
    from worker.tasks.builds import enqueue

    ctx = get_context(app.conf.ocelot_settings)
    with session_scope(ctx.engine) as session:
        ids = list(
            session.scalars(
                select(Build.id).where(
                    Build.status == QUEUED, Build.queued_at < utcnow() - STALE_AFTER
                )
            )
        )
    for build_id in ids:
        enqueue(build_id)
    return len(ids)
