"""Finish: settle the build's final status and remove what it ran in."""

from __future__ import annotations

import logging

from ocelot.db import session_scope
from ocelot.executors import BuildKey
from ocelot.lifecycle import move
from ocelot.logstream import publish_end
from ocelot.models import Build
from ocelot.pipeline import load_config
from ocelot.retrying import outage_budget, retry_db
from ocelot.runner import downstream, leftovers, pipelines, remover
from ocelot.runner.context import RunContext
from ocelot.status import FINISHED, BuildStatus, StageStatus

log = logging.getLogger(__name__)


def allowed_to_fail(build: Build) -> set[int]:
    """Positions of the stages marked ``allow_failure`` in the build's ocelot.yml."""
    if not build.config_text:
        return set()
    try:
        config = load_config(build.config_text)
    except Exception:  # noqa: BLE001 - a FAILED_PRESTART build may hold an invalid file
        return set()
    return {i for i, stage in enumerate(config.stages) if stage.allow_failure}


def _settle(build: Build) -> None:
    """End the current attempt's unfinished stages, then move a RUNNING build to its result
    (a FAILED_PRESTART build keeps its status and reason)."""
    stages = build.current_stages()
    for stage in stages:
        if stage.status == StageStatus.RUNNING:  # the worker died or crashed under it
            stage.status = StageStatus.KILLED if build.kill_requested_by else StageStatus.FAILED
            stage.add_message("interrupted")
        elif stage.status == StageStatus.PENDING:
            stage.status = StageStatus.SKIPPED
            stage.add_message("not run")
    if build.status != BuildStatus.RUNNING:
        return
    killed = build.kill_requested_by or any(s.status == StageStatus.KILLED for s in stages)
    allowed = allowed_to_fail(build)
    failed = [s for s in stages if s.status == StageStatus.FAILED and s.position not in allowed]
    if killed:
        move(build, BuildStatus.KILLED, f"killed by {build.kill_requested_by or 'request'}")
    elif failed:
        first = failed[0]
        detail = next((m for m in reversed(first.messages or []) if m), "failed")
        move(build, BuildStatus.FAILED, f"stage {first.name!r} failed: {detail}")
    else:
        move(build, BuildStatus.PASSED)


def finish(ctx: RunContext, build_id: int, attempt: int) -> str | None:
    """Record the final status (idempotent), then destroy the build's containers/workspace.

    The status is final first, so ``--wait`` returns as soon as the result is known; the
    clean-up (about 0.1 s for Docker) then runs in the worker process's background remover
    (:mod:`ocelot.runner.remover`), off the path of the slot's next build; a kill or failure
    is no different."""
    status = retry_db(
        lambda: _settle_status(ctx, build_id, attempt),
        what=f"recording the end of build {build_id}",
        budget=outage_budget(ctx.settings),
    )
    if status is None:
        return None
    if status not in FINISHED:
        # A late finish of an attempt the reaper already ended (the build is QUEUED again for
        # a new attempt): nothing to announce, only the dead attempt's leftovers to remove.
        _destroy(ctx, BuildKey(build_id, attempt))
        return None
    publish_end(ctx.redis, build_id, status)
    ctx.build_finished(build_id, status)  # also when redelivered: dispatching is idempotent
    pipelines.upstream_ended(ctx, build_id, status)  # other pipelines' builds waiting for it
    downstream.upstream_passed(ctx, build_id, status)  # repositories subscribed to it
    if leftovers.keeps(ctx, status):  # OCELOT_KEEP_CONTAINERS: kept for debugging
        leftovers.record_kept(ctx, BuildKey(build_id, attempt))
    else:
        _destroy(ctx, BuildKey(build_id, attempt))
    return status


def _settle_status(ctx: RunContext, build_id: int, attempt: int) -> str | None:
    """Settle the attempt (once) and return the build's status; None for another attempt."""
    with session_scope(ctx.engine) as session:
        build = session.get(Build, build_id)
        if build is None or build.attempt != attempt:
            return None
        if build.status in (BuildStatus.RUNNING, BuildStatus.FAILED_PRESTART):
            _settle(build)
        return build.status


def _destroy(ctx: RunContext, key: BuildKey) -> None:
    executor = ctx.executor

    def remove() -> None:
        try:
            executor.destroy(key)
        except Exception:  # leftovers are the janitor's; the status stands
            log.exception("could not remove the environment of build %s", key.build_id)

    remover.submit(remove, f"build {key.slug}")
