"""The build pipeline's steps, called by the thin Celery tasks in ``worker.tasks``.

    route    (queue ``control``)   resolve the commit, read + validate ocelot.yml, branch filter,
                                   pick the queue: ``builds`` or ``builds.<machineTag>``
    prepare  (that queue)          claim by compare-and-set, check out, start the build env;
                                   returns the stages to chain on *this* worker's own queue
    stage x N  (worker's own queue)  run one stage, streaming its log
    finish   (worker's own queue)  final status, clean up

Each step takes ids, re-reads the rows it needs, and is a no-op for a message that belongs to
an older attempt or a build that is already finished, so redelivery is harmless.
"""

from ocelot.runner.context import RunContext
from ocelot.runner.finish import finish
from ocelot.runner.prepare import prepare
from ocelot.runner.route import route
from ocelot.runner.stage import run_stage

__all__ = ["RunContext", "finish", "prepare", "route", "run_stage"]
