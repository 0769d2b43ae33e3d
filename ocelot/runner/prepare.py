"""Prepare: claim the build, check the commit out, start its build environment."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from ocelot import gitops, metrics
from ocelot.db import session_scope
from ocelot.errors import OcelotError, SourceError
from ocelot.executors import BuildKey
from ocelot.executors.local import LocalExecutor
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
    with session_scope(ctx.engine) as session:
        build = _claim(ctx, session, build_id)
        return None if build is None else build.attempt


# Made once: ``aliased(Build)`` builds a proxy of each of the model's columns (~5 ms a claim).
_RUNNING = aliased(Build)


def _claim(ctx: RunContext, session: Session, build_id: int) -> Build | None:
    """:func:`claim` inside the caller's transaction: the claimed build, or None."""
    now = utcnow()
    running = _RUNNING
    busy = (
        select(func.count(running.id))
        .where(running.status == BuildStatus.RUNNING, running.worker == ctx.settings.worker_name)
        .scalar_subquery()
    )
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
    return build


def workspace_dir(ctx: RunContext, key: BuildKey) -> Path:
    return ctx.settings.workspaces / f"src-{key.build_id}-{key.attempt}"


def prepare(ctx: RunContext, build_id: int) -> tuple[int, list[int]] | str | None:
    """Claim and set up the build; return ``(attempt, stage positions)`` for the chain,
    :data:`BUSY` when this worker already runs ``OCELOT_MAX_BUILDS`` builds (try later), or
    None when there is nothing to run (duplicate message, or failed before start)."""
    budget = outage_budget(ctx.settings)  # a database blip is ridden out, not a failure
    local = _local_executor(ctx)
    planned = retry_db(lambda: _claim_and_plan(ctx, build_id, local),
                       what=f"claiming build {build_id}", budget=budget)  # fmt: skip
    if planned is None:
        with session_scope(ctx.engine) as session:
            still_queued = session.scalar(select(Build.status).where(Build.id == build_id))
        return BUSY if still_queued == BuildStatus.QUEUED else None
    attempt, (config, url, repo_id, commit, trusted, earlier) = planned
    key = BuildKey(build_id, attempt)
    ctx.build_started(build_id)
    if attempt > 1:
        _mark_attempt(ctx, key, earlier[0] if earlier else None)
    if not trusted and ctx.settings.worker_executor != "docker":
        # route refuses a machineTag for untrusted builds; this is the second fence
        fail_prestart(ctx, key, UNTRUSTED_ON_HOST)
        return None
    checkout = workspace_dir(ctx, key)

    def fetch() -> Path:  # reads the account's clone credentials: retried on a blip
        with clone_credentials(ctx, repo_id) as git_env:
            return gitops.mirror_with(ctx.settings.mirrors, str(repo_id), url, commit, git_env)

    if local is not None:
        return _prepare_local(ctx, local, key, config, repo_id, commit, lambda: retry_db(
            fetch, what=f"fetching the commit of build {build_id}", budget=budget))  # fmt: skip
    try:
        with LeaseKeeper(ctx, build_id, attempt):
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
    except Exception as exc:  # noqa: BLE001 - any failure ends the build; _give_up logs surprises
        _give_up(ctx, key, exc)
        return None
    finally:
        shutil.rmtree(checkout, ignore_errors=True)

    _record_workspace(ctx, build_id, workspace)
    return attempt, list(range(len(config.stages)))


def _give_up(ctx: RunContext, key: BuildKey, exc: Exception) -> None:
    """End the build ``FAILED_PRESTART`` because preparing it raised ``exc`` (called from the
    ``except`` block: a surprise is logged with its traceback)."""
    if isinstance(exc, OcelotError):
        fail_prestart(ctx, key, exc.message)
        return
    log.exception("prepare of build %s failed", key.build_id)
    fail_prestart(ctx, key, f"{type(exc).__name__}: {exc}")


def _record_workspace(ctx: RunContext, build_id: int, workspace: str) -> None:
    def record() -> None:
        with session_scope(ctx.engine) as session:
            build = session.get(Build, build_id)
            assert build is not None
            build.workspace = workspace

    retry_db(
        record,
        what=f"recording the workspace of build {build_id}",
        budget=outage_budget(ctx.settings),
    )


_Planned = tuple[Any, str, int, str, bool, list[Any]]


def _claim_and_plan(
    ctx: RunContext, build_id: int, local: LocalExecutor | None
) -> tuple[int, _Planned] | None:
    """Claim the build (:func:`claim`) and plan the attempt (:func:`_plan`) in one
    transaction: one commit, and a retry after a database blip starts clean. On the local
    executor the workspace's path is known beforehand and recorded here too."""
    with session_scope(ctx.engine) as session:
        build = _claim(ctx, session, build_id)
        if build is None:
            return None
        key = BuildKey(build_id, build.attempt)
        if local is not None:
            build.workspace = _local_workspace(local, key)
        return build.attempt, _plan(ctx, session, build, key)


def _local_executor(ctx: RunContext) -> LocalExecutor | None:
    """This worker's executor when it is the local one (it checks out in place)."""
    if ctx.settings.worker_executor == "docker":
        return None  # no Docker client is made before the claim
    return ctx.executor if isinstance(ctx.executor, LocalExecutor) else None


def _local_workspace(local: LocalExecutor, key: BuildKey) -> str:
    """The path the local executor's :meth:`~LocalExecutor.check_out` returns for ``key``."""
    return str(local.workspace(key).resolve())


def _prepare_local(
    ctx: RunContext,
    local: LocalExecutor,
    key: BuildKey,
    config: Any,
    repo_id: int,
    commit: str,
    fetch: Callable[[], Path],
) -> tuple[int, list[int]] | None:
    """The local executor's prepare: the commit is checked out of the mirror straight into
    the workspace (one git process, no copy, no second fetch when ``route`` ran on this host
    and the mirror has the commit); the workspace was recorded when the build was claimed.
    No secrets are read here: registry logins and ``$HOME`` files are all ``prepare`` hands
    an executor, and this one ignores both (ocelot/executors/local.py); a stage still gets
    the account's env secrets (``run_stage``)."""
    build_id = key.build_id
    mirror = ctx.settings.mirrors / f"{repo_id}.git"
    try:
        with LeaseKeeper(ctx, build_id, key.attempt):
            try:
                if not (mirror / "HEAD").exists():
                    raise SourceError("no mirror on this host yet")
                workspace = local.check_out(key, mirror, commit)
            except SourceError:  # not fetched here yet: fetch, then check out again
                workspace = local.check_out(key, fetch(), commit)
    except Exception as exc:  # noqa: BLE001 - any failure ends the build; _give_up logs surprises
        _give_up(ctx, key, exc)
        return None
    if workspace != _local_workspace(local, key):  # never expected: then record the real one
        _record_workspace(ctx, build_id, workspace)
    return key.attempt, list(range(len(config.stages)))


def _plan(ctx: RunContext, session: Session, build: Build, key: BuildKey) -> _Planned:
    """Write the attempt's stage rows and deadline; return what preparing needs."""
    build_id, attempt = key.build_id, key.attempt
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
