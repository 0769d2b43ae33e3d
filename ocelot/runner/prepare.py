"""Prepare: claim the build, check the commit out, start its build environment."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta

from sqlalchemy import update

from ocelot import gitops
from ocelot.db import session_scope
from ocelot.errors import OcelotError
from ocelot.executors import BuildKey
from ocelot.models import Build, Stage, utcnow
from ocelot.models.build import FAILED_PRESTART, PENDING, QUEUED, RUNNING
from ocelot.pipeline import load_config
from ocelot.runner.context import RunContext

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)


def claim(ctx: RunContext, build_id: int) -> int | None:
    """Compare-and-set ``QUEUED → RUNNING``; return the new attempt, or None if another
    message (or a kill) got there first."""
    now = utcnow()
    with session_scope(ctx.engine) as session:
        result = session.execute(
            update(Build)
            .where(Build.id == build_id, Build.status == QUEUED)
            .values(
                status=RUNNING,
                worker=ctx.settings.worker_name,
                attempt=Build.attempt + 1,
                started_at=now,
                lease_until=now + LEASE,
                pending_reason=None,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        build = session.get(Build, build_id)
        assert build is not None
        return build.attempt


def workspace_dir(ctx: RunContext, key: BuildKey):  # type: ignore[no-untyped-def]
    return ctx.settings.workspaces / f"src-{key.build_id}-{key.attempt}"


def prepare(ctx: RunContext, build_id: int) -> tuple[int, list[int]] | None:
    """Claim and set up the build; return ``(attempt, stage positions)`` for the chain, or
    None when there is nothing to run (duplicate message, or failed before start)."""
    attempt = claim(ctx, build_id)
    if attempt is None:
        return None
    key = BuildKey(build_id, attempt)
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
                    status=PENDING,
                    messages=[],
                )
            )
        url, repo_id, commit = build.repo.url, build.repo_id, build.hash or ""
    checkout = workspace_dir(ctx, key)
    try:
        mirror = gitops.sync_mirror(ctx.settings.mirrors, str(repo_id), url)
        shutil.rmtree(checkout, ignore_errors=True)
        gitops.checkout(mirror, commit, checkout)
        workspace = ctx.executor.prepare(key, checkout, config.image, {})
    except OcelotError as exc:
        fail_prestart(ctx, key, exc.message)
        return None
    except Exception as exc:
        log.exception("prepare of build %s failed", build_id)
        fail_prestart(ctx, key, f"{type(exc).__name__}: {exc}")
        return None
    finally:
        shutil.rmtree(checkout, ignore_errors=True)
    with session_scope(ctx.engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        build.workspace = workspace
    return attempt, list(range(len(config.stages)))


def fail_prestart(ctx: RunContext, key: BuildKey, reason: str) -> None:
    from ocelot.runner.finish import finish

    with session_scope(ctx.engine) as session:
        build = session.get(Build, key.build_id)
        if build is not None and build.attempt == key.attempt:
            build.status = FAILED_PRESTART
            build.failure_reason = reason
    finish(ctx, key.build_id, key.attempt)
