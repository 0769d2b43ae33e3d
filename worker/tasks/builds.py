"""Build tasks: route → prepare → stage x N → finish.

Names are explicit and stable (``ocelot.builds.*``) so renaming a function can never orphan
messages already in Redis. ``enqueue`` is what web and services call *after* their commit.
"""

from __future__ import annotations

import logging

from celery import Task, chain

from ocelot import runner
from ocelot.runner.prepare import BUSY
from worker import signals  # noqa: F401 - connects the signal handlers in every worker
from worker.app import app, send_route, worker_queue
from worker.context import get_context

log = logging.getLogger(__name__)


def _ctx() -> runner.RunContext:
    return get_context(app.conf.ocelot_settings)


def enqueue(build_id: int) -> None:
    """Wake the pipeline for a committed QUEUED build."""
    send_route(app, build_id)


@app.task(name="ocelot.builds.route")
def route(build_id: int) -> None:
    queue = runner.route(_ctx(), build_id)
    if queue is not None:
        prepare.apply_async((build_id,), queue=queue)


@app.task(name="ocelot.builds.prepare", bind=True, max_retries=None)
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


@app.task(name="ocelot.stages.run")
def run_stage(build_id: int, attempt: int, position: int) -> None:
    runner.run_stage(_ctx(), build_id, attempt, position)


@app.task(name="ocelot.builds.finish")
def finish(build_id: int, attempt: int) -> None:
    runner.finish(_ctx(), build_id, attempt)
