"""Where every message goes: queue names, task names, and the only functions that publish.

Web, worker, beat and services publish through these functions and nowhere else, so a queue
or a task name is spelled once. They take the *publisher* — any Celery app, passed in: this
module imports no Celery (``ocelot`` imports neither flask nor celery) and builds no app. The
web publishes through an app built from its own settings (``web/extensions.py``); the worker
through its own (``worker/app.py``).

Queues::

    control                 route, polls, discovery (every host's control pool consumes it)
    maintenance             reap, reconcile, janitor from beat (the control pool too)
    builds                  prepare of untagged builds (Docker workers)
    builds.<tag>            prepare of ``machineTag`` builds (workers started with that tag)
    ocelot.worker.<name>    the stages and finish of builds prepared by worker <name>
    notify                  Slack / email notices of finished builds (every worker)
    forge                   commit statuses and PR comments (every worker)

Task names are stable (``ocelot.*``): messages already in Redis name them, so renaming a
function can never orphan them. Messages carry ids only, never a credential.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any, Protocol

CONTROL = "control"
MAINTENANCE = "maintenance"
# What each host's small control pool consumes, apart from the pool that runs stages, so
# that route and maintenance never wait behind long stages (worker/control_pool.py).
CONTROL_POOL_QUEUES = (CONTROL, MAINTENANCE)
BUILDS = "builds"
NOTIFY = "notify"
FORGE = "forge"

ROUTE = "ocelot.builds.route"
PREPARE = "ocelot.builds.prepare"
RUN_STAGE = "ocelot.stages.run"
FINISH = "ocelot.builds.finish"
NOTIFY_BUILD = "ocelot.notify.build"
NOTIFY_SEND = "ocelot.notify.send"
FORGE_STATUS = "ocelot.forge.status"
FORGE_COMMENT = "ocelot.forge.comment"
POLLS_RUN_DUE = "ocelot.polls.run_due"
POLLS_RUN = "ocelot.polls.run"
DISCOVERY_RUN = "ocelot.discovery.run"
MAINTENANCE_PING = "ocelot.maintenance.ping"
MAINTENANCE_REAP = "ocelot.maintenance.reap"
MAINTENANCE_RECONCILE = "ocelot.maintenance.reconcile"
MAINTENANCE_JANITOR = "ocelot.maintenance.janitor"
# on a worker's own queue: work that only the host owning the containers can do
MAINTENANCE_JANITOR_HERE = "ocelot.maintenance.janitor_here"
MAINTENANCE_DESTROY = "ocelot.maintenance.destroy"

# The steps of a build: an exception escaping one of them fails the build (worker/signals.py).
BUILD_STEPS = frozenset({ROUTE, PREPARE, RUN_STAGE, FINISH})


class Publisher(Protocol):
    """What publishing needs of a Celery app."""

    def send_task(self, name: str, *args: Any, **options: Any) -> Any: ...

    def signature(self, *args: Any, **options: Any) -> Any: ...


def builds_queue(machine_tag: str | None) -> str:
    """The queue of a build's ``prepare``: ``builds``, or ``builds.<machineTag>``."""
    return f"{BUILDS}.{machine_tag}" if machine_tag else BUILDS


def worker_queue(worker_name: str) -> str:
    """The worker's own queue: the stages and finish of the builds it prepared."""
    return f"ocelot.worker.{worker_name}"


def worker_queues(worker_name: str, docker: bool, tags: Sequence[str]) -> list[str]:
    """Every queue a worker consumes: ``control``, its own, ``notify``, ``forge``; then
    ``builds`` (Docker workers only: a local executor cannot run image builds) and
    ``builds.<tag>`` for each of its tags."""
    names = [CONTROL, worker_queue(worker_name), NOTIFY, FORGE]
    if docker:
        names.append(BUILDS)
    names.extend(builds_queue(tag) for tag in tags)
    return names


def send_route(app: Publisher, build_id: int) -> None:
    """Wake the pipeline of a committed QUEUED build: its first step, ``route``."""
    app.send_task(ROUTE, args=[build_id], queue=CONTROL)


def send_prepare(app: Publisher, build_id: int, queue: str, countdown: float | None = None) -> None:
    """Publish ``prepare`` of a routed build on ``queue`` (``builds`` or ``builds.<tag>``)."""
    app.send_task(PREPARE, args=[build_id], queue=queue, countdown=countdown)


def send_stages(
    app: Publisher, build_id: int, attempt: int, positions: Sequence[int], worker_name: str
) -> None:
    """Publish the chain ``stage x N → finish`` of ``attempt`` to the preparing worker's own
    queue. Immutable signatures: no step receives the previous one's result."""
    own = worker_queue(worker_name)
    steps = [
        app.signature(RUN_STAGE, args=(build_id, attempt, p), immutable=True, queue=own)
        for p in positions
    ]
    steps.append(app.signature(FINISH, args=(build_id, attempt), immutable=True, queue=own))
    functools.reduce(operator.or_, steps).apply_async()


def send_janitor_here(app: Publisher, worker_name: str) -> None:
    """Ask one worker to clean up its own host (its leftovers, old containers, images)."""
    app.send_task(MAINTENANCE_JANITOR_HERE, queue=worker_queue(worker_name), expires=600)


def send_destroy(app: Publisher, worker_name: str, build_id: int, attempt: int) -> None:
    """Ask the worker that ran ``attempt`` to remove its containers and volume. A worker
    that is gone finds the message in its own queue when it comes back."""
    app.send_task(MAINTENANCE_DESTROY, args=[build_id, attempt], queue=worker_queue(worker_name))


def send_notify(app: Publisher, build_id: int) -> None:
    """Ask for the notices of a finished build (after its final status is committed)."""
    app.send_task(NOTIFY_BUILD, args=[build_id], queue=NOTIFY)


def send_notify_channel(app: Publisher, build_id: int, channel: str) -> None:
    """Deliver one channel's notice (``slack`` or ``email``) of a finished build."""
    app.send_task(NOTIFY_SEND, args=[build_id, channel], queue=NOTIFY)


def send_forge_report(app: Publisher, build_id: int, *, comment: bool = True) -> None:
    """Report the build's current status on its commit and (``comment``) on its pull
    request; the tasks read the status when they run, so a late message never goes back."""
    app.send_task(FORGE_STATUS, args=[build_id], queue=FORGE)
    if comment:
        app.send_task(FORGE_COMMENT, args=[build_id], queue=FORGE)


def send_poll(app: Publisher, poll_id: int) -> None:
    """Run one due poll (expires: a poll that waited 5 minutes is due again anyway)."""
    app.send_task(POLLS_RUN, args=[poll_id], queue=CONTROL, expires=300)
