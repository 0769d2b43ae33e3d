"""Run one stage of a build: decide whether it runs, run it, record the outcome."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Row, select

from ocelot import metrics
from ocelot.db import session_scope
from ocelot.errors import DatabaseUnreachable
from ocelot.executors import BuildKey, RegistryLogin, StageOutcome
from ocelot.logstore import writer_files
from ocelot.logstream import LogWriter, Redactor, stored_log
from ocelot.models import Build, Stage, utcnow
from ocelot.pipeline import (
    BuildConfig,
    Changeset,
    StageConfig,
    load_config,
    stage_command,
    stage_runs,
)
from ocelot.retrying import outage_budget, retry_db
from ocelot.runner.context import RunContext
from ocelot.runner.environment import build_environment
from ocelot.runner.finish import allowed_to_fail
from ocelot.runner.image_stage import ImageJob, plan_image, run_image, stage_image
from ocelot.runner.recovery import renew_lease
from ocelot.runner.secrets import stage_secrets
from ocelot.status import BuildStatus, StageStatus

log = logging.getLogger(__name__)


def _changeset(build: Build) -> Changeset:
    data = build.changeset or {}
    return Changeset(
        branch=build.branch or "",
        messages=tuple(data.get("messages") or ()),
        files=tuple(data.get("files") or ()),
        known=bool(data),
    )


def _blocked_reason(build: Build, position: int) -> str | None:
    """Why this stage must not run: the build was killed, or an earlier stage failed."""
    if build.kill_requested_by:
        return f"not run: build killed by {build.kill_requested_by}"
    allowed = allowed_to_fail(build)
    for stage in build.current_stages():
        if stage.position < position and stage.status in (StageStatus.FAILED, StageStatus.KILLED):
            if stage.status == StageStatus.FAILED and stage.position in allowed:
                continue
            return f"not run: stage {stage.name!r} {stage.status.lower()}"
    return None


class _KillWatch:
    """``should_stop`` for the executor. Once a second it renews the build's lease and reads
    the kill flag and the build deadline (top-level ``timeout``). The first second needs no
    database: ``_begin`` renewed the lease and read the flag and the deadline in the
    transaction that marked the stage RUNNING (``deadline``), so a stage costs no commit
    here unless it runs longer than that."""

    def __init__(
        self, ctx: RunContext, build_id: int, attempt: int, deadline: datetime | None = None
    ) -> None:
        self.ctx, self.build_id, self.attempt = ctx, build_id, attempt
        self._checked = time.monotonic()
        self.by: str | None = None
        self.deadline_passed = deadline is not None and utcnow() > deadline

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.by is None and not self.deadline_passed and now - self._checked >= 1.0:
            self._checked = now
            # A database blip is ridden out here (for up to a lease, the stage runs on);
            # past that, DatabaseUnreachable ends the stage with that reason (_execute).
            live = renew_lease(self.ctx, self.build_id, self.attempt)
            row = retry_db(
                self._read,
                what=f"reading the kill flag of build {self.build_id}",
                budget=outage_budget(self.ctx.settings),
            )
            self.by = row.kill_requested_by or (None if live else "recovery (attempt ended)")
            self.deadline_passed = row.deadline_at is not None and utcnow() > row.deadline_at
        return self.by is not None or self.deadline_passed

    def _read(self) -> Row[str | None, datetime | None]:
        with session_scope(self.ctx.engine) as session:
            return session.execute(
                select(Build.kill_requested_by, Build.deadline_at).where(Build.id == self.build_id)
            ).one()


def run_stage(ctx: RunContext, build_id: int, attempt: int, position: int) -> None:
    plan = retry_db(
        lambda: _begin(ctx, build_id, attempt, position),
        what=f"starting stage {position} of build {build_id}",
        budget=outage_budget(ctx.settings),
    )
    if plan is None:
        return
    config, spec, argv, env, workdir, redact, logins, job, started = plan
    outcome, tries, timed_out = _execute(
        ctx,
        BuildKey(build_id, attempt),
        config,
        spec,
        argv,
        env,
        workdir,
        redact,
        logins,
        job,
        started,
    )
    retry_db(
        lambda: _record(ctx, build_id, attempt, position, spec, outcome, tries, timed_out),
        what=f"recording the end of stage {spec.name!r} of build {build_id}",
        budget=outage_budget(ctx.settings),
    )


@dataclasses.dataclass(frozen=True)
class _Started:
    """Read in the transaction that marked the stage RUNNING, so that running it needs no
    other commit: the build's deadline (for :class:`_KillWatch`) and where its log stands
    (for the :class:`~ocelot.logstream.LogWriter`)."""

    deadline: datetime | None
    log: tuple[int | None, int | None]


_Plan = tuple[
    BuildConfig,
    StageConfig,
    list[str],
    dict[str, str],
    str,
    Redactor,
    Sequence[RegistryLogin],
    ImageJob | None,
    _Started,
]


def _begin(ctx: RunContext, build_id: int, attempt: int, position: int) -> _Plan | None:
    """Mark the stage RUNNING, renew the build's lease, and return what running it needs
    (with :class:`_Started`); None when it must not run (stale message, already ran, or
    skipped: then it is recorded as SKIPPED). One commit."""
    with session_scope(ctx.engine) as session:
        build = session.get(Build, build_id)
        if build is None or build.attempt != attempt or build.status != BuildStatus.RUNNING:
            return None  # a stale message of an older attempt, or the build already ended
        stage = next((s for s in build.current_stages() if s.position == position), None)
        if stage is None or stage.status != StageStatus.PENDING:
            return None  # this stage already ran (redelivered message)
        config = load_config(build.config_text or "")
        spec = config.stages[position]
        blocked = _blocked_reason(build, position)
        if blocked is None:
            runs, why = stage_runs(spec, _changeset(build))
            blocked = None if runs else why
        if blocked is not None:
            stage.status = StageStatus.SKIPPED
            stage.add_message(blocked)
            return None
        workspace = build.workspace or ""
        argv, workdir = stage_command(spec, config, workspace)
        env = build_environment(session, build, workspace, spec.name, config.env, spec.env)
        secret_env, redact, logins = stage_secrets(session, ctx.settings, build)
        job, failed = None, None  # an image stage, or a stage in an image one made
        if spec.build_image is not None:
            job = plan_image(session, ctx.settings, build, spec, position, env, secret_env)
        else:
            image, failed = stage_image(session, ctx.settings, build, spec, position, env)
            spec = dataclasses.replace(spec, image=image)
        env.update(secret_env)  # account secrets come last (docs/ocelot-yml.md: environment)
        stage.status, stage.started_at = StageStatus.RUNNING, utcnow()
        if failed is not None:
            stage.status, stage.finished_at = StageStatus.FAILED, utcnow()
            stage.add_message(f"error: {failed}")
            return None
        # what _KillWatch would do in its first second, in this same commit
        build.lease_until = utcnow() + timedelta(seconds=ctx.settings.lease_seconds)
        started = _Started(
            build.deadline_at,
            stored_log(session, build_id, attempt, ctx.settings.max_log_bytes),
        )
    return config, spec, argv, env, workdir, redact, logins, job, started


def _execute(
    ctx: RunContext,
    key: BuildKey,
    config: BuildConfig,
    spec: StageConfig,
    argv: list[str],
    env: dict[str, str],
    workdir: str,
    redact: Redactor,
    registry_logins: Sequence[RegistryLogin] = (),
    image_job: ImageJob | None = None,
    started: _Started | None = None,
) -> tuple[StageOutcome, int, bool]:
    watch = _KillWatch(ctx, key.build_id, key.attempt, started.deadline if started else None)
    timeout = spec.timeout_seconds  # the build-level timeout is a deadline (_KillWatch)
    tries = 0
    with LogWriter(
        ctx.engine,
        ctx.redis,
        key.build_id,
        key.attempt,
        flush_seconds=ctx.settings.log_flush_seconds,
        flush_bytes=ctx.settings.log_flush_bytes,
        redact=redact,
        max_bytes=ctx.settings.max_log_bytes,
        retry_seconds=outage_budget(ctx.settings),
        files=writer_files(ctx.settings),
        stored=started.log if started else None,
    ) as writer:
        writer.set_stage(spec.name)
        while True:
            tries += 1
            suffix = f" (try {tries} of {spec.retry + 1})" if spec.retry else ""
            writer.line(f"--- stage {spec.name}{suffix} ---")
            try:
                if image_job is not None:  # build_image: built by the worker, not in a container
                    outcome = run_image(
                        ctx, key, spec, image_job, on_output=writer.write, should_stop=watch
                    )
                else:
                    outcome = ctx.executor.run_stage(
                        key,
                        spec.name,
                        argv,
                        env,
                        workdir,
                        image=spec.image,
                        on_output=writer.write,
                        should_stop=watch,
                        timeout=timeout,
                        grace=ctx.settings.kill_grace_seconds,
                        registry_logins=registry_logins,  # a private stage image: pulled with them
                    )
            except DatabaseUnreachable as exc:  # the stage was stopped: no lease, no log
                log.error("stage %s of build %s stopped: %s", spec.name, key.build_id, exc)
                outcome = StageOutcome(exit_code=None, error=exc.message)
                break
            except Exception as exc:
                log.exception("stage %s of build %s crashed", spec.name, key.build_id)
                outcome = StageOutcome(exit_code=None, error=f"{type(exc).__name__}: {exc}")
            if outcome.exit_code == 0 or outcome.killed or tries > spec.retry:
                break
    return outcome, tries, watch.deadline_passed and watch.by is None


def _record(
    ctx: RunContext,
    build_id: int,
    attempt: int,
    position: int,
    spec: StageConfig,
    outcome: StageOutcome,
    tries: int,
    build_timed_out: bool = False,
) -> None:
    with session_scope(ctx.engine) as session:
        stage = session.scalar(
            select(Stage).where(
                Stage.build_id == build_id, Stage.attempt == attempt, Stage.position == position
            )
        )
        if stage is None or stage.status != StageStatus.RUNNING:
            return  # settled meanwhile: the reaper ended the attempt (worker lost)
        stage.finished_at = utcnow()
        stage.exit_code = outcome.exit_code
        if tries > 1:
            stage.add_message(f"ran {tries} times (retry: {spec.retry})")
        if outcome.killed and build_timed_out:
            stage.status = StageStatus.FAILED
            stage.add_message("timeout: the build ran longer than its timeout")
        elif outcome.killed:
            build = session.get(Build, build_id)
            who = build.kill_requested_by if build else None
            stage.status = StageStatus.KILLED
            stage.add_message(f"killed by {who or 'request'}")
        elif outcome.timed_out:
            stage.status = StageStatus.FAILED
            stage.add_message("timeout: the stage ran longer than its limit")
        elif outcome.error:
            stage.status = StageStatus.FAILED
            stage.add_message(f"error: {outcome.error}")
        elif outcome.exit_code == 0:
            stage.status = StageStatus.PASSED
        else:
            stage.status = StageStatus.FAILED
            stage.add_message(f"exit code {outcome.exit_code}")
        if stage.status == StageStatus.FAILED and spec.allow_failure:
            stage.add_message("allowed to fail: the build goes on")
        metrics.stage_finished(stage)
