"""Finish: settle the build's final status and remove what it ran in."""

from __future__ import annotations

import logging

from ocelot.db import session_scope
from ocelot.executors import BuildKey
from ocelot.logstream import publish_end
from ocelot.models import Build, utcnow
from ocelot.models.build import (
    FAILED,
    FAILED_PRESTART,
    FINISHED,
    KILLED,
    PASSED,
    PENDING,
    RUNNING,
    SKIPPED,
)
from ocelot.pipeline import load_config
from ocelot.runner.context import RunContext

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
    stages = build.current_stages()
    for stage in stages:
        if stage.status == RUNNING:  # the worker died or crashed under it
            stage.status = KILLED if build.kill_requested_by else FAILED
            stage.add_message("interrupted")
        elif stage.status == PENDING:
            stage.status = SKIPPED
            stage.add_message("not run")
    if build.status == FAILED_PRESTART:
        return
    killed = build.kill_requested_by or any(s.status == KILLED for s in stages)
    allowed = allowed_to_fail(build)
    failed = [s for s in stages if s.status == FAILED and s.position not in allowed]
    if killed:
        build.status = KILLED
        build.failure_reason = f"killed by {build.kill_requested_by or 'request'}"
    elif failed:
        first = failed[0]
        build.status = FAILED
        detail = next((m for m in reversed(first.messages or []) if m), "failed")
        build.failure_reason = f"stage {first.name!r} failed: {detail}"
    else:
        build.status = PASSED
        build.failure_reason = None


def finish(ctx: RunContext, build_id: int, attempt: int) -> str | None:
    """Record the final status (idempotent), then destroy the build's containers/workspace.

    The status is final first and the clean-up follows at once (about 0.1 s for Docker), so
    ``--wait`` returns as soon as the result is known; a kill or failure is no different."""
    with session_scope(ctx.engine) as session:
        build = session.get(Build, build_id)
        if build is None or build.attempt != attempt:
            return None
        if build.status in (RUNNING, FAILED_PRESTART):
            _settle(build)
            build.finished_at = build.finished_at or utcnow()
            build.lease_until = None
        status = build.status
    publish_end(ctx.redis, build_id, status)
    if status in FINISHED:  # also on a redelivered finish: the hooks are idempotent
        ctx.build_finished(build_id, status)
    keep = ctx.settings.keep_containers and status in (FAILED, FAILED_PRESTART)
    if not keep:
        try:
            ctx.executor.destroy(BuildKey(build_id, attempt))
        except Exception:  # leftovers are the janitor's; the status stands
            log.exception("could not remove the environment of build %s", build_id)
    return status
