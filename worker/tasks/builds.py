"""Build tasks: route → prepare → stage x N → finish.

Thin: each takes ids, calls its step in :mod:`ocelot.runner` and publishes the next one
(:mod:`ocelot.queues`). Names are explicit and stable (``ocelot.builds.*``,
``ocelot.stages.run``) so renaming a function can never orphan messages already in Redis.
An exception escaping a step fails the build, and what a step announces (started, finished)
is dispatched when the task ends: both in ``worker/signals.py``. A database blip is not a
failure: the steps retry their writes (:mod:`ocelot.retrying`), and route, which holds no
claim yet, is simply sent again later.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from ocelot import queues, runner
from ocelot.retrying import is_transient
from ocelot.runner.prepare import BUSY
from worker.app import app
from worker.base import OcelotTask


@app.task(name=queues.ROUTE, bind=True)
def route(self: OcelotTask, build_id: int) -> None:
    try:
        queue = runner.route(self.ctx, build_id)
    except DBAPIError as exc:  # a database blip: route again later (it is idempotent)
        if not is_transient(exc):
            raise
        self.retry_later(exc)
    if queue is not None:
        queues.send_prepare(app, build_id, queue)


@app.task(name=queues.PREPARE, bind=True)
def prepare(self: OcelotTask, build_id: int) -> None:
    ctx = self.ctx
    result = runner.prepare(ctx, build_id)
    if result == BUSY:  # this worker runs OCELOT_MAX_BUILDS builds already: hand it back
        queue = (self.request.delivery_info or {}).get("routing_key") or queues.BUILDS
        queues.send_prepare(app, build_id, queue, countdown=2)
        return
    if not isinstance(result, tuple):
        return
    attempt, positions = result
    queues.send_stages(app, build_id, attempt, positions, ctx.settings.worker_name)


@app.task(name=queues.RUN_STAGE, bind=True)
def run_stage(self: OcelotTask, build_id: int, attempt: int, position: int) -> None:
    runner.run_stage(self.ctx, build_id, attempt, position)


@app.task(name=queues.FINISH, bind=True)
def finish(self: OcelotTask, build_id: int, attempt: int) -> None:
    runner.finish(self.ctx, build_id, attempt)
