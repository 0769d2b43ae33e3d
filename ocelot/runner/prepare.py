"""Prepare: claim the build, check the commit out, start its build environment."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import aliased

from ocelot import gitops, metrics
from ocelot.db import session_scope
from ocelot.errors import OcelotError
from ocelot.executors import BuildKey
from ocelot.lifecycle import move
from ocelot.logstore import writer_files
from ocelot.logstream import LogWriter
from ocelot.models import Build, Stage, utcnow
from ocelot.pipeline import load_config
from ocelot.retrying import outage_budget, retry_db
from ocelot.runner.clone_auth import clone_credentials
from ocelot.runner.context import RunContext
from ocelot.runner.recovery import LeaseKeeper
from ocelot.runner.secrets import prepare_secrets
from ocelot.status import BuildStatus, StageStatus

log = logging.getLogger(__name__)

BUSY = "busy"
UNTRUSTED_ON_HOST = (
    "an untrusted build (code from outside the repository) never runs on a worker host: "
    "only in a Docker container"
)


def claim(ctx: RunContext, build_id: int) -> int | None:
    """Compare-and-set ``QUEUED → RUNNING``; return the new attempt, or None if another
    message (or a kill) got there first, or this worker already runs ``OCELOT_MAX_BUILDS``
    builds (the count is part of the same UPDATE, so two processes cannot both slip in on
    SQLite; on PostgreSQL two claims in the same instant may overshoot by one)."""
    now = utcnow()
    running = aliased(Build)
    busy = (
        select(func.count(running.id))
        .where(running.status == BuildStatus.RUNNING, running.worker == ctx.settings.worker_name)
        .scalar_subquery()
    )
    with session_scope(ctx.engine) as session:
        result = session.execute(
            update(Build)
            .where(
                Build.id == build_id,
                Build.status == BuildStatus.QUEUED,
                busy < ctx.settings.max_builds,
            )
            .values(
                status=BuildStatus.RUNNING,
                worker=ctx.settings.worker_name,
                attempt=Build.attempt + 1,
                started_at=func.coalesce(Build.started_at, now),
                lease_until=now + timedelta(seconds=ctx.settings.lease_seconds),
                pending_reason=None,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        build = session.get(Build, build_id)
        assert build is not None
        metrics.build_claimed(build)
        return build.attempt


def workspace_dir(ctx: RunContext, key: BuildKey) -> Path:
    return ctx.settings.workspaces / f"src-{key.build_id}-{key.attempt}"


def prepare(ctx: RunContext, build_id: int) -> tuple[int, list[int]] | str | None:
    """Claim and set up the build; return ``(attempt, stage positions)`` for the chain,
    :data:`BUSY` when this worker already runs ``OCELOT_MAX_BUILDS`` builds (try later), or
    None when there is nothing to run (duplicate message, or failed before start)."""
    budget = outage_budget(ctx.settings)  # a database blip is ridden out, not a failure
    attempt = retry_db(lambda: claim(ctx, build_id), what=f"claiming build {build_id}",
                       budget=budget)  # fmt: skip
    if attempt is None:
        with session_scope(ctx.engine) as session:
            still_queued = session.scalar(select(Build.status).where(Build.id == build_id))
        return BUSY if still_queued == BuildStatus.QUEUED else None
    key = BuildKey(build_id, attempt)
    ctx.build_started(build_id)
    config, url, repo_id, commit, trusted, earlier = retry_db(
        lambda: _plan(ctx, key), what=f"planning build {build_id}", budget=budget
    )
    if attempt > 1:
        _mark_attempt(ctx, key, earlier[0] if earlier else None)
    if not trusted and ctx.settings.worker_executor != "docker":
        # route refuses a machineTag for untrusted builds; this is the second fence
        fail_prestart(ctx, key, UNTRUSTED_ON_HOST)
        return None
    checkout = workspace_dir(ctx, key)
    try:
        with LeaseKeeper(ctx, build_id, attempt):

            def fetch() -> Path:  # reads the account's clone credentials: retried on a blip
                with clone_credentials(ctx, repo_id) as git_env:
                    return gitops.mirror_with(
                        ctx.settings.mirrors, str(repo_id), url, commit, git_env
                    )

            mirror = retry_db(fetch, what=f"fetching the commit of build {build_id}", budget=budget)
            shutil.rmtree(checkout, ignore_errors=True)
            gitops.checkout(mirror, commit, checkout)
            # with the account's registry logins, ssh keys and maven settings
            logins, files = retry_db(
                lambda: prepare_secrets(ctx, build_id, config),
                what=f"reading the credentials of build {build_id}",
                budget=budget,
            )
            workspace = ctx.executor.prepare(
                key, checkout, config.image, {}, registry_logins=logins, home_files=files
            )
    except OcelotError as exc:
        fail_prestart(ctx, key, exc.message)
        return None
    except Exception as exc:  # any surprise must end the build, not strand it
        log.exception("prepare of build %s failed", build_id)
        fail_prestart(ctx, key, f"{type(exc).__name__}: {exc}")
        return None
    finally:
        shutil.rmtree(checkout, ignore_errors=True)

    def record() -> None:
        with session_scope(ctx.engine) as session:
            build = session.get(Build, build_id)
            assert build is not None
            build.workspace = workspace

    retry_db(record, what=f"recording the workspace of build {build_id}", budget=budget)
    return attempt, list(range(len(config.stages)))


def _plan(ctx: RunContext, key: BuildKey) -> tuple[Any, str, int, str, bool, list[Any]]:
    """Write the attempt's stage rows and deadline; return what preparing needs (one
    transaction, so a retry after a database blip starts clean)."""
    build_id, attempt = key.build_id, key.attempt
    with session_scope(ctx.engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        config = load_config(build.config_text or "")
        for position, stage in enumerate(config.stages):
            session.add(
                Stage(
                    build_id=build_id,
                    attempt=attempt,
                    position=position,
                    name=stage.name,
                    status=StageStatus.PENDING,
                    messages=[],
                )
            )
        # ocelot.yml's `timeout`, else OCELOT_BUILD_TIMEOUT (0: none)
        timeout = config.timeout_seconds or ctx.settings.build_timeout_seconds
        if timeout and build.deadline_at is None:
            build.deadline_at = utcnow() + timedelta(seconds=timeout)
        url, repo_id, commit = build.repo.url, build.repo_id, build.hash or ""
        trusted = build.trusted
        earlier = (build.history or [])[-1:]
    return config, url, repo_id, commit, trusted, earlier


def attempt_banner(attempt: int, earlier: dict[str, Any] | None) -> str:
    """The log line that opens attempt ``attempt`` > 1, saying how the one before ended:
    ``--- attempt 2 (attempt 1 on docker-1: worker lost) ---``."""
    if not earlier:
        return f"--- attempt {attempt} ---"
    worker = earlier.get("worker") or "?"
    # "worker lost: docker-1" → "worker lost"; "worker shut down: w (SIGTERM)" → "... (SIGTERM)"
    reason = str(earlier.get("reason") or "ended").replace(f": {worker}", "", 1)
    before = earlier.get("attempt", attempt - 1)
    return f"--- attempt {attempt} (attempt {before} on {worker}: {reason}) ---"


def _mark_attempt(ctx: RunContext, key: BuildKey, earlier: dict[str, Any] | None) -> None:
    """Store (and publish) the banner of a new attempt, in its set-up section."""
    with LogWriter(
        ctx.engine,
        ctx.redis,
        key.build_id,
        key.attempt,
        retry_seconds=outage_budget(ctx.settings),
        files=writer_files(ctx.settings),
    ) as writer:
        writer.line(attempt_banner(key.attempt, earlier))


def fail_prestart(ctx: RunContext, key: BuildKey, reason: str) -> None:
    from ocelot.runner.finish import finish

    def fail() -> None:
        with session_scope(ctx.engine) as session:
            build = session.get(Build, key.build_id)
            if (
                build is not None
                and build.attempt == key.attempt
                and build.status == BuildStatus.RUNNING
            ):
                move(build, BuildStatus.FAILED_PRESTART, reason)

    retry_db(fail, what=f"failing build {key.build_id}", budget=outage_budget(ctx.settings))
    finish(ctx, key.build_id, key.attempt)
