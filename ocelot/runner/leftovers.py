"""Leftovers: what the janitors may remove, and what a failed build keeps for debugging.

With ``OCELOT_KEEP_CONTAINERS`` on, ``finish`` leaves the environment of a ``FAILED`` or
``FAILED_PRESTART`` attempt in place (docker: the build container and its volume; local: the
workspace) and :func:`record_kept` writes its name on the build (``kept_container`` in the
API; ``ocelot status`` prints ``debug: docker exec -it <name> sh``). Only an attempt that got
an environment (``prepare`` succeeded) records one.

A kept environment stays until ``OCELOT_JANITOR_AGE`` has passed since its build finished:
the janitor at worker start and the periodic janitor spare it (:func:`spared`), then remove
it like any leftover and forget its name (:func:`forget_expired`). ``ocelot admin prune``
removes kept environments at once (:func:`remove_kept`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ocelot.db import session_scope
from ocelot.executors import BuildKey
from ocelot.models import Build, utcnow
from ocelot.runner.context import RunContext
from ocelot.status import BuildStatus

log = logging.getLogger(__name__)

KEEPS = frozenset({BuildStatus.FAILED, BuildStatus.FAILED_PRESTART})


def keeps(ctx: RunContext, status: str) -> bool:
    """Does ``finish`` keep the environment of a build that ended ``status``?"""
    return ctx.settings.keep_containers and status in KEEPS


def record_kept(ctx: RunContext, key: BuildKey) -> str | None:
    """Write the name of ``key``'s kept environment on its build (once ``finish`` decided to
    keep it); None when the attempt never got one. Never raises: the status stands."""
    from ocelot.executors.janitor import kept_name

    try:
        name = kept_name(ctx.executor, key)
        with session_scope(ctx.engine) as session:
            build = session.get(Build, key.build_id)
            if build is None or build.attempt != key.attempt or not build.workspace:
                return None
            build.kept_container = name
        outlive = getattr(ctx.executor, "keep", None)  # docker: its dead-man's switch off
        if callable(outlive):
            outlive(key)
    except Exception:  # the janitor removes it by age instead
        log.exception("could not record the kept environment of build %s", key.build_id)
        return None
    log.info("build %s failed; its environment is kept for debugging: %s", key.build_id, name)
    return name


def _cutoff(ctx: RunContext) -> datetime:
    return utcnow() - timedelta(seconds=ctx.settings.janitor_age_seconds)


def live_attempts(ctx: RunContext) -> set[BuildKey]:
    with session_scope(ctx.engine) as session:
        rows = session.execute(
            select(Build.id, Build.attempt).where(Build.status == BuildStatus.RUNNING)
        )
        return {BuildKey(build_id, attempt) for build_id, attempt in rows}


def kept_attempts(ctx: RunContext) -> set[BuildKey]:
    """Attempts whose kept environment is younger than ``OCELOT_JANITOR_AGE``."""
    with session_scope(ctx.engine) as session:
        rows = session.execute(
            select(Build.id, Build.attempt).where(
                Build.kept_container.is_not(None), Build.finished_at >= _cutoff(ctx)
            )
        )
        return {BuildKey(build_id, attempt) for build_id, attempt in rows}


def spared(ctx: RunContext) -> Callable[[BuildKey], bool]:
    """What the janitors must leave alone: running attempts and young kept ones."""
    keep = live_attempts(ctx) | kept_attempts(ctx)
    return lambda key: key in keep


def forget_expired(ctx: RunContext) -> int:
    """Clear ``kept_container`` of builds finished longer than the age limit ago (the
    janitor removed, or is removing, what they kept)."""
    with session_scope(ctx.engine) as session:
        result = session.execute(
            update(Build)
            .where(Build.kept_container.is_not(None), Build.finished_at < _cutoff(ctx))
            .values(kept_container=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def clean(ctx: RunContext) -> list[str]:
    """Remove this worker's leftovers (containers, volumes, workspaces) of attempts that are
    neither running nor kept; the janitor at worker start and every periodic tick."""
    removed = list(ctx.executor.cleanup(ctx.settings.worker_name, spared(ctx)))
    forget_expired(ctx)
    if removed:
        log.warning("janitor: removed %s", ", ".join(removed))
    return removed


@dataclass(frozen=True)
class Pruned:
    """One kept environment ``remove_kept`` dealt with: removed, or ``error`` saying why not."""

    build_id: int
    name: str
    error: str | None = None


def remove_kept(ctx: RunContext, build_ids: Sequence[int] = ()) -> list[Pruned]:
    """Remove kept environments now (``ocelot admin prune``): every one, or those of
    ``build_ids``, oldest build first. One the executor could not remove keeps its name on
    the build (its ``Pruned`` has the error), so the next prune tries again."""
    with session_scope(ctx.engine) as session:
        query = select(Build.id, Build.attempt, Build.kept_container).where(
            Build.kept_container.is_not(None)
        )
        if build_ids:
            query = query.where(Build.id.in_(list(build_ids)))
        rows = session.execute(query.order_by(Build.id)).all()
    done: list[Pruned] = []
    for build_id, attempt, name in rows:
        try:
            ctx.executor.destroy(BuildKey(build_id, attempt))
        except Exception as exc:  # noqa: BLE001 - reported; the next prune tries again
            log.warning("could not remove %s (build %s): %s", name, build_id, exc)
            done.append(Pruned(build_id, str(name), str(exc) or type(exc).__name__))
            continue
        with session_scope(ctx.engine) as session:
            session.execute(
                update(Build)
                .where(Build.id == build_id, Build.kept_container == name)
                .values(kept_container=None)
            )
        done.append(Pruned(build_id, str(name)))
    return done
