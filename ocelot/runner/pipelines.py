"""Several pipelines per repository, at run time: the builds of one event, and ``depends_on``.

**One build per matching pipeline.** An event's build (push, pull request, tag, poll, ``ocelot
build`` without ``--pipeline``) is created for the ``default`` pipeline before anyone has read
the commit. Its ``route``, which has the mirror, lists ``.ocelot/*.yml`` at the commit and
adds, in the same transaction, one QUEUED build for every other pipeline whose ``branches``
and ``paths`` let this event through (:func:`add_event_builds`); a forced build takes them
all. They share the first build's ``event_id``, commit, changeset, trigger (and upstream
build, :mod:`ocelot.services.subscriptions`) and trust
(an untrusted build's pipelines are as untrusted as it, and they are made only once it was
approved, so a fork cannot add a pipeline that skips approval or gets a secret). Each is then
routed like any build: it reads its own file, and a fork's pipeline obeys the ``notify`` of
the same file on the destination branch (none there: nobody is notified).

**depends_on.** A build whose pipeline ``depends_on: [other]`` looks for ``other``'s build in
the same event (:func:`dependency_verdict`): none (the pipeline did not match, or the build
was asked for alone) → it runs; not finished → it stays QUEUED with ``waiting_for`` and the
pending reason ``waiting for pipeline other (build #N)``; ended without passing → SKIPPED
with the reason. When the upstream build ends:

* failing: :func:`ocelot.lifecycle.move` skips the builds waiting for it in the same
  transaction, whoever ended it (worker, kill, reaper);
* passing: ``finish`` calls :func:`release` after its commit, which sends the waiting builds
  on to ``prepare`` (or to wait for their next upstream);
* the reconciler calls :func:`release_stranded` for any build still waiting for a build that
  has ended (a lost wake-up, or a wait decided while its upstream was ending).

A dependency cycle among the event's pipelines ends its builds FAILED_PRESTART with the
cycle's path (``ocelot validate`` refuses it earlier).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ocelot import queues
from ocelot.db import session_scope
from ocelot.errors import ConfigError
from ocelot.lifecycle import move
from ocelot.logstream import publish_end
from ocelot.models import Build, utcnow
from ocelot.pipeline import BuildConfig, Changeset, branch_allowed, load_config, paths_verdict
from ocelot.pipeline.layout import (
    DEFAULT_PIPELINE,
    SKIPPED_FOR_UPSTREAM,
    config_path,
    find_cycles,
    skip_reason,
    upstream_failed,
    wait_reason,
)
from ocelot.runner.context import RunContext
from ocelot.status import FINISHED, BuildStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventBuilds:
    """What :func:`add_event_builds` did: builds to route, builds it ended (a dependency
    cycle), and the cycle each pipeline of the event is on."""

    to_route: list[int]
    ended: list[int]
    cycles: dict[str, str]


def _config(text: str | None) -> BuildConfig | None:
    if text is None:
        return None
    try:
        return load_config(text)
    except ConfigError:
        return None


def matches(build: Build, config: BuildConfig) -> tuple[bool, str]:
    """Whether the event of ``build`` builds a pipeline with ``config``, and why not: the
    ``branches`` list (tag builds are not branch-filtered) and the ``paths`` filter. A forced
    build matches every pipeline."""
    if build.forced:
        return True, "forced"
    if build.tag is None and not branch_allowed(config.branches, build.branch or ""):
        listed = ", ".join(config.branches) or "(empty)"
        return False, f"branch {build.branch} not in the acceptable branches list: {listed}"
    return paths_verdict(config.paths, build.changeset)


def cycles_of(texts: Mapping[str, str | None]) -> dict[str, str]:
    """``{pipeline: "a → b → a"}`` for every pipeline on a ``depends_on`` cycle."""
    graph = {
        name: list(config.depends_on) if (config := _config(text)) else []
        for name, text in texts.items()
    }
    on_cycle: dict[str, str] = {}
    for cycle in find_cycles(graph):
        for name in cycle:
            on_cycle.setdefault(name, " → ".join(cycle))
    return on_cycle


def add_event_builds(
    session: Session, first: Build, texts: Mapping[str, str | None]
) -> EventBuilds:
    """Make the builds of ``first``'s event: one QUEUED build per pipeline of ``texts``
    (``{name: file text}``, the ``default`` one included) that the event matches, besides
    ``first`` itself (see the module docstring). An invalid file gets its build, which fails
    with its issues when routed; a ``[skip ci]`` push gets none."""
    first.event_id = first.id
    cycles = cycles_of(texts)
    messages = (first.changeset or {}).get("messages") or ()
    if not first.forced and Changeset(first.branch or "", messages).skip_requested:
        return EventBuilds([], [], cycles)
    to_route: list[int] = []
    ended: list[int] = []
    for name, text in sorted(texts.items()):
        if name == first.pipeline or text is None:
            continue
        config = _config(text)
        if config is not None and not matches(first, config)[0]:
            continue
        build = _sibling(first, name)
        session.add(build)
        session.flush()
        if name in cycles:
            move(build, BuildStatus.FAILED_PRESTART, f"dependency cycle: {cycles[name]}")
            ended.append(build.id)
        else:
            to_route.append(build.id)
    return EventBuilds(to_route, ended, cycles)


def _sibling(first: Build, name: str) -> Build:
    return Build(
        repo_id=first.repo_id,
        repo=first.repo,
        branch=first.branch,
        hash=first.hash,
        tag=first.tag,
        pr_id=first.pr_id,
        message=first.message,
        forced=first.forced,
        trigger=first.trigger,
        triggered_by=first.triggered_by,
        changeset=first.changeset,
        status=BuildStatus.QUEUED,
        queued_at=utcnow(),
        pending_reason=f"waiting for the pipeline to read {config_path(name)}",
        trusted=first.trusted,
        trust_reason=first.trust_reason,
        approved_by=first.approved_by,
        approved_at=first.approved_at,
        pipeline=name,
        event_id=first.event_id,
        upstream_repo=first.upstream_repo,  # an upstream-triggered event (subscriptions)
        upstream_build_id=first.upstream_build_id,
        upstream_hash=first.upstream_hash,
    )


# -- depends_on ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What a build's ``depends_on`` says now: ``go``, ``wait`` for ``upstream``, or
    ``skip`` with ``reason``."""

    action: str
    reason: str = ""
    upstream: int | None = None


GO = Verdict("go")


def dependency_verdict(session: Session, build: Build, depends_on: Sequence[str]) -> Verdict:
    """Whether ``build`` may run, given the builds of its event of the pipelines it depends
    on (the newest one of each, when a pipeline has several)."""
    if not depends_on or build.event_id is None:
        return GO
    rows = session.scalars(
        select(Build)
        .where(
            Build.event_id == build.event_id,
            Build.pipeline.in_(list(depends_on)),
            Build.id != build.id,
        )
        .order_by(Build.id)
    ).all()
    upstream = {row.pipeline: row for row in rows}  # the newest wins
    waiting: Verdict | None = None
    for name in depends_on:
        other = upstream.get(name)
        if other is None:
            continue  # no build of that pipeline in this event: nothing to wait for
        if other.status in FINISHED:
            if upstream_failed(other.status, other.failure_reason):
                return Verdict("skip", skip_reason(name, other.id, other.status))
        elif waiting is None:
            waiting = Verdict("wait", wait_reason(name, other.id), other.id)
    return waiting or GO


def hold(build: Build, verdict: Verdict) -> None:
    """Keep a QUEUED build waiting for ``verdict.upstream``."""
    build.waiting_for = verdict.upstream
    build.pending_reason = verdict.reason


def ready_reason(machine_tag: str | None, queue: str) -> str:
    return (
        f"waiting for a worker with tag {machine_tag!r} (queue {queue})"
        if machine_tag
        else f"waiting for a free worker (queue {queue})"
    )


def release(ctx: RunContext, upstream_id: int) -> list[int]:
    """Look again at the builds waiting for ``upstream_id`` (call it after its end is
    committed): each goes on to ``prepare`` (recorded with ``ctx.wake``), waits for its next
    upstream, or is SKIPPED (announced). Returns the builds sent on."""
    released: list[int] = []
    ended: list[tuple[int, str]] = []
    with session_scope(ctx.engine) as session:
        waiting = session.scalars(
            select(Build).where(
                Build.waiting_for == upstream_id, Build.status == BuildStatus.QUEUED
            )
        ).all()
        for build in waiting:
            config = _config(build.config_text)
            verdict = dependency_verdict(session, build, config.depends_on if config else ())
            if verdict.action == "wait":
                hold(build, verdict)
            elif verdict.action == "skip":
                move(build, BuildStatus.SKIPPED, verdict.reason)
                ended.append((build.id, build.status))
            else:
                queue = queues.builds_queue(build.machine_tag)
                build.waiting_for = None
                build.pending_reason = ready_reason(build.machine_tag, queue)
                released.append(build.id)
                ctx.wake(build.id, queue)
    for build_id, status in ended:
        publish_end(ctx.redis, build_id, status)
        ctx.build_finished(build_id, status)
    return released


def upstream_ended(ctx: RunContext, build_id: int, status: str) -> None:
    """After ``build_id``'s end is committed: release the builds waiting for it when it
    passed; else announce the builds of its event that its end skipped (followers, forge)."""
    if status == BuildStatus.PASSED:
        release(ctx, build_id)
        return
    if not upstream_failed(status, None):
        return
    with session_scope(ctx.engine) as session:
        event = session.scalar(select(Build.event_id).where(Build.id == build_id))
        skipped = session.scalars(
            select(Build.id).where(
                Build.event_id == event,
                Build.status == BuildStatus.SKIPPED,
                Build.failure_reason.startswith(SKIPPED_FOR_UPSTREAM),
            )
        ).all()
    for other in skipped if event is not None else ():
        publish_end(ctx.redis, other, BuildStatus.SKIPPED)
        ctx.build_finished(other, BuildStatus.SKIPPED)


def release_stranded(ctx: RunContext) -> list[int]:
    """:func:`release` for every build still waiting for a build that has ended."""
    upstream = aliased(Build)
    with session_scope(ctx.engine) as session:
        ended = session.scalars(
            select(upstream.id)
            .join(Build, Build.waiting_for == upstream.id)
            .where(
                Build.status == BuildStatus.QUEUED,
                upstream.status.in_([str(s) for s in FINISHED]),
            )
            .distinct()
        ).all()
    released: list[int] = []
    for upstream_id in ended:
        log.warning("build %s ended but builds still waited for it: releasing them", upstream_id)
        released.extend(release(ctx, upstream_id))
    return released


def wake(publisher: queues.Publisher, wakeups: Sequence[tuple[int, str | None]]) -> None:
    """Publish recorded wake-ups (:meth:`RunContext.wake`). Never raises: a build whose
    message is lost is published again by the reconciler."""
    for build_id, queue in wakeups:
        try:
            if queue is None:
                queues.send_route(publisher, build_id)
            else:
                queues.send_prepare(publisher, build_id, queue)
        except Exception:
            log.exception("could not publish build %s", build_id)


def event_texts(default_text: str | None, others: Mapping[str, str | None]) -> dict[str, Any]:
    """The pipeline files of a commit as ``{name: text}``: ``ocelot.yml`` as ``default``
    (when present) and the others by name."""
    texts: dict[str, Any] = dict(others)
    if default_text is not None:
        texts[DEFAULT_PIPELINE] = default_text
    return texts
