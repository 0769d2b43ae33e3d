"""Celery signal handlers.

* after fork: each pool process gets its own DB connections and Docker client;
* worker ready: remove leftovers of this worker from before a crash (janitor);
* worker shutting down (SIGTERM/SIGINT): hand this worker's running builds back, so another
  worker runs them as a new attempt instead of leaving them ``RUNNING`` until the lease ends.
"""

from __future__ import annotations

import logging

from celery.signals import worker_process_init, worker_ready, worker_shutting_down
from sqlalchemy import select

from ocelot.db import dispose_engines, session_scope
from ocelot.models import Build
from ocelot.models.build import RUNNING
from ocelot.runner.recovery import abandon
from worker.context import get_context, reset_context

log = logging.getLogger("ocelot.worker")


def _settings():  # type: ignore[no-untyped-def]
    from worker.app import app

    return app.conf.ocelot_settings


@worker_process_init.connect
def _after_fork(**_: object) -> None:
    dispose_engines()
    reset_context()


@worker_ready.connect
def _ready(sender: object = None, **_: object) -> None:
    from worker.tasks.maintenance import clean_leftovers

    try:
        clean_leftovers(get_context(_settings()))
    except Exception:  # the worker still serves; the next start tries again
        log.exception("start-up clean-up failed")
    log.info("ocelot worker ready")


@worker_shutting_down.connect
def _shutting_down(sig: str = "", how: str = "", exitcode: int = 0, **_: object) -> None:
    from worker.tasks.maintenance import send_prepare

    ctx = get_context(_settings())
    name = ctx.settings.worker_name
    try:
        with session_scope(ctx.engine) as session:
            rows = session.execute(
                select(Build.id, Build.attempt).where(Build.status == RUNNING, Build.worker == name)
            ).all()
        for build_id, attempt in rows:
            result = abandon(ctx, build_id, attempt, f"worker shut down: {name} ({sig})")
            if result is not None and result.requeue_to:
                send_prepare(build_id, result.requeue_to)
                log.warning("build %s handed back for another worker", build_id)
    except Exception:
        log.exception("could not hand builds back on shutdown")
    finally:
        dispose_engines()
        reset_context()
