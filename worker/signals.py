"""The life of the worker and of its tasks, on Celery's signals: everything that happens
*around* a task is here, in the order it happens.

Worker:

* ``worker_process_init`` (after fork): each pool process gets its own DB connections and
  Docker client, and its background remover (:mod:`ocelot.runner.remover`: ``finish``'s
  clean-up off the path of the next build);
* ``worker_process_shutdown``: a pool process finishes its queued removals before it exits;
* ``worker_ready``: start the registry heartbeat (:mod:`worker.registry`); remove leftovers
  of this worker from before a crash (janitor); Docker: hold the build containers' stdin
  and start the warm pool's filler (:mod:`ocelot.executors.warm_pool`);
* ``worker_shutting_down`` (SIGTERM/SIGINT): hand this worker's running builds back, so
  another worker runs them as a new attempt instead of leaving them ``RUNNING`` until the
  lease ends; a build out of retries fails, and is announced; the warm pool is removed; then
  the registry marks the worker stopped;
* ``worker_shutdown`` (after a warm shutdown, the pool gone): the janitor's clean-up of this
  worker's leftovers, for what a pool process ended by the stop signal could not remove.

Tasks:

* ``task_failure`` of a build step (route, prepare, stage, finish): the build fails with
  ``internal error in <task>: <error> (see worker log)`` and its containers are removed; the
  traceback goes to the worker log only. Celery sends it for an exception escaping the task
  (in the pool process, after ``Task.on_failure``) and, from the worker's main process, for a
  time limit or a ``Reject(requeue=False)``; never for ``Retry`` or ``Ignore``, nor for a pool
  process that died (``reject_on_worker_lost`` puts the message back; the lease and the
  reaper take it from there).
* ``task_retry``: logged, with the reason and when the retry comes (the policy is
  ``worker.base.POLICY``).
* ``task_postrun`` (every task, whatever its outcome, in the process that ran it): dispatch
  what the runner announced while the task ran (``RunContext.build_started`` /
  ``build_finished``, recorded right after each commit): a finished build gets its notices
  (``notify`` queue) and forge reports (``forge`` queue), a started one its forge report;
  only the tasks that will find work (:mod:`ocelot.services.announcing`: a forge with an API,
  a pull request, a ``notify`` block), or all of them when the database cannot say.
  Publishing only sends ids; every consumer is idempotent, so a redelivered step announcing
  again is harmless, and a broker error here is logged, never raised into the task.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task
from celery.signals import (
    task_failure,
    task_postrun,
    task_retry,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot import queues
from ocelot.db import dispose_engines, session_scope
from ocelot.errors import DatabaseUnreachable
from ocelot.executors import deadman, warm_pool
from ocelot.models import Build
from ocelot.runner import RunContext, leftovers, pipelines, remover
from ocelot.runner.context import Announcement
from ocelot.runner.recovery import abandon, fail_build
from ocelot.services import announcing
from ocelot.status import BuildStatus
from worker import control_pool, metrics, registry
from worker.app import app
from worker.context import current_context, get_context, reset_context

log = logging.getLogger("ocelot.worker")


def announce(
    publisher: Celery, announcements: list[Announcement], engine: Engine | None = None
) -> None:
    """Publish what ``announcements`` call for, once per build: notices and forge reports
    for a build that finished, a forge report for one that started. With ``engine``, only
    the tasks that will have something to do (:mod:`ocelot.services.announcing`); without
    it, or when the database cannot say, all of them. Never raises."""
    latest: dict[int, Announcement] = {}
    for item in announcements:  # a build that ended needs no "started" report as well
        earlier = latest.get(item.build_id)
        if earlier is None or not earlier.finished or item.finished:
            latest[item.build_id] = item
    due: dict[int, announcing.Due] = {}
    if engine is not None and latest:
        try:
            due = announcing.due(engine, latest)
        except Exception:  # the tasks decide for themselves
            log.warning("could not read what builds %s call for; sending every report",
                        sorted(latest), exc_info=True)  # fmt: skip
    for build_id, item in latest.items():
        wanted = due.get(build_id, announcing.EVERYTHING)
        try:
            if item.finished and wanted.notices:
                queues.send_notify(publisher, build_id)
            if wanted.status:
                queues.send_forge_report(publisher, build_id, comment=wanted.comment)
        except Exception:  # the build's status stands; followers poll it anyway
            log.exception("could not announce build %s (%s)", build_id, item.status)


def _flush(publisher: Celery, ctx: RunContext | None) -> None:
    if ctx is not None:
        announce(publisher, ctx.take_announcements(), ctx.engine)
        pipelines.wake(publisher, ctx.take_wakeups())  # other pipelines' builds (depends_on)


# -- the worker ------------------------------------------------------------------------------


@worker_process_init.connect
def _after_fork(**_: object) -> None:
    dispose_engines()
    reset_context()
    deadman.after_fork()  # a pool process must not hold its build containers alive
    remover.enable()


@worker_shutdown.connect
def _shut_down(**_: object) -> None:
    """After a warm shutdown, the pool gone: remove what its processes left (a removal still
    queued in a process the stop signal ended at once: systemd's default ``KillMode`` sends
    SIGTERM to every process of the unit, and a pool process dies of it), so a stopped
    worker leaves no container of a finished build behind for its next start to find."""
    if control_pool.is_control_process(app.conf):
        return
    try:
        leftovers.clean(get_context(app.conf.ocelot_settings))
    except Exception:  # the next start's janitor tries again
        log.exception("shutdown clean-up failed")
    finally:
        dispose_engines()
        reset_context()


@worker_process_shutdown.connect
def _process_exiting(**_: object) -> None:
    if not remover.drain():
        log.warning("exiting with removals still queued; the janitor removes what is left")


@worker_ready.connect
def _ready(sender: object = None, **_: object) -> None:
    from worker.tasks.maintenance import clean_leftovers

    if control_pool.is_control_process(app.conf):  # route and maintenance only
        log.info("ocelot control pool ready")
        return
    registry.start(app.conf.ocelot_settings, app.conf.get(registry.BOOT_ID))
    metrics.start(app.conf.ocelot_settings)
    try:
        clean_leftovers(get_context(app.conf.ocelot_settings))
    except Exception:  # the worker still serves; the next start tries again
        log.exception("start-up clean-up failed")
    _hold_containers(get_context(app.conf.ocelot_settings))
    if app.conf.get(registry.BOOT_ID):  # started by `python -m worker`: its control pool
        control_pool.start([])
    log.info("ocelot worker ready")


def _hold_containers(ctx: RunContext) -> None:
    """Docker workers: this (main) process holds the stdin of its build containers, their
    dead-man's switch (:mod:`ocelot.executors.deadman`)."""
    if ctx.settings.worker_executor != "docker":
        return
    try:
        from ocelot.executors.docker import DockerExecutor

        executor = ctx.executor
        assert isinstance(executor, DockerExecutor)
        holder = deadman.hold(executor.new_client, executor.holder_labels(), executor.hold_address)
    except Exception:  # containers then live until removed, as without the switch
        log.exception("could not start holding the build containers' stdin")
        return
    try:
        warm_pool.start(executor, ctx.settings.max_builds, holder)
    except Exception:  # builds then make their own containers
        log.exception("could not start the warm pool")


@worker_shutting_down.connect
def _shutting_down(sig: str = "", how: str = "", exitcode: int = 0, **_: object) -> None:
    if control_pool.is_control_process(app.conf):  # its worker hands the builds back
        dispose_engines()
        return
    ctx = get_context(app.conf.ocelot_settings)
    name = ctx.settings.worker_name
    try:
        with session_scope(ctx.engine) as session:
            rows = session.execute(
                select(Build.id, Build.attempt).where(
                    Build.status == BuildStatus.RUNNING, Build.worker == name
                )
            ).all()
        for build_id, attempt in rows:
            result = abandon(ctx, build_id, attempt, f"worker shut down: {name} ({sig})")
            if result is not None and result.requeue_to:
                queues.send_prepare(app, build_id, result.requeue_to)
                log.warning("build %s handed back for another worker", build_id)
        _flush(app, ctx)  # a build out of retries failed: announce it
    except Exception:
        log.exception("could not hand builds back on shutdown")
    finally:
        warm_pool.stop()  # after the hand-back: no build claims a container any more
        control_pool.stop()
        registry.stop()  # the registry row: stopped, the name free
        dispose_engines()
        reset_context()


# -- its tasks -------------------------------------------------------------------------------


def _build_id(args: Any, kwargs: Any) -> int | None:
    value = args[0] if args else (kwargs or {}).get("build_id")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@task_failure.connect
def _task_failed(
    sender: Task | None = None,
    exception: BaseException | None = None,
    args: Any = None,
    kwargs: Any = None,
    **_: object,
) -> None:
    """An exception escaped a build step: end the build with the error, never leave it
    stuck. (Other tasks log their own failures; Celery logs the traceback of all.)"""
    if sender is None or sender.name not in queues.BUILD_STEPS:
        return
    build_id = _build_id(args, kwargs)
    if build_id is None:
        return
    log.error("task %s failed for build %s", sender.name, build_id, exc_info=exception)
    error = f"{type(exception).__name__}: {exception}"
    reason = f"internal error in {sender.name}: {error} (see worker log)"
    if isinstance(exception, DatabaseUnreachable):  # not a bug: say what happened
        reason = f"{exception.message} (in {sender.name})"
    ctx = get_context(sender.app.conf.ocelot_settings)
    try:
        fail_build(ctx, build_id, reason)
    except Exception:  # the reaper and the reconciler are the next line of defence
        log.exception("could not mark build %s as failed", build_id)
    # Here, not only in task_postrun: a time limit is reported from the main process.
    _flush(sender.app, ctx)


@task_retry.connect
def _task_retried(
    sender: Task | None = None, request: Any = None, reason: Any = None, **_: object
) -> None:
    name = getattr(sender, "name", "?")
    retries = getattr(request, "retries", 0) + 1
    limit = getattr(sender, "max_retries", None)
    when = getattr(reason, "when", None)
    when = f"in {when:.1f}s" if isinstance(when, int | float) else f"at {when}"
    cause = getattr(reason, "exc", None) or "asked by the task (its log says why)"
    log.warning(
        "task %s%s: retry %s of %s %s: %s",
        name,
        list(getattr(request, "args", None) or []),
        retries,
        limit if limit is not None else "∞",
        when,
        cause,
    )


@task_postrun.connect
def _task_ended(sender: Task | None = None, **_: object) -> None:
    if sender is not None:
        _flush(sender.app, current_context())
