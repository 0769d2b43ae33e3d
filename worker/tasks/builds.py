"""Build tasks: route → prepare → stage x N → finish.

Names are explicit and stable (``ocelot.builds.*``) so renaming a function can never orphan
messages already in Redis. ``enqueue`` is what web and services call *after* their commit.
"""

from __future__ import annotations

import logging

from celery import Task, chain

from ocelot import runner
from ocelot.runner.prepare import BUSY
from ocelot.runner.recovery import fail_build
from worker import signals  # noqa: F401 - connects the signal handlers in every worker
from worker.app import app, send_route, worker_queue
from worker.context import get_context

log = logging.getLogger(__name__)


class BuildTask(Task):  # type: ignore[misc]
    """Base of the build tasks: an exception that escapes a step ends the build with the
    error (never a silently stuck build) and removes its containers. The traceback goes to
    the worker's log; the build's log and failure reason get one line."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # type: ignore[no-untyped-def]
        build_id = args[0] if args else kwargs.get("build_id")
        if build_id is None:
            return
        log.error("task %s failed for build %s", self.name, build_id, exc_info=exc)
        reason = f"internal error in {self.name}: {type(exc).__name__}: {exc} (see worker log)"
        try:
            fail_build(_ctx(), int(build_id), reason)
        except Exception:  # the reaper and reconciler are the next line of defence
            log.exception("could not mark build %s as failed", build_id)


def _ctx() -> runner.RunContext:
    return get_context(app.conf.ocelot_settings)


def enqueue(build_id: int) -> None:
    """Wake the pipeline for a committed QUEUED build."""
    send_route(app, build_id)


@app.task(name="ocelot.builds.route", base=BuildTask)
def route(build_id: int) -> None:
    queue = runner.route(_ctx(), build_id)
    if queue is not None:
        prepare.apply_async((build_id,), queue=queue)


@app.task(name="ocelot.builds.prepare", base=BuildTask, bind=True, max_retries=None)
def prepare(self: Task, build_id: int) -> None:
    ctx = _ctx()
    result = runner.prepare(ctx, build_id)
    if result == BUSY:  # this worker runs OCELOT_MAX_BUILDS builds already: hand it back
        queue = (self.request.delivery_info or {}).get("routing_key") or "builds"
        prepare.apply_async((build_id,), queue=queue, countdown=2)
        return
    if not isinstance(result, tuple):
        return
    attempt, positions = result
    own = worker_queue(ctx.settings.worker_name)
    steps = [run_stage.si(build_id, attempt, p).set(queue=own) for p in positions]
    steps.append(finish.si(build_id, attempt).set(queue=own))
    chain(*steps).apply_async()


@app.task(name="ocelot.stages.run", base=BuildTask)
def run_stage(build_id: int, attempt: int, position: int) -> None:
    runner.run_stage(_ctx(), build_id, attempt, position)


@app.task(name="ocelot.builds.finish", base=BuildTask)
def finish(build_id: int, attempt: int) -> None:
    runner.finish(_ctx(), build_id, attempt)
