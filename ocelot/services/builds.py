"""Build use-cases: queue, look up, list, kill, rebuild.

``create_build`` only writes the ``QUEUED`` row; resolving the branch head, reading
``ocelot.yml`` and routing to a worker queue happen in the pipeline (``ocelot.pipeline_run``),
so a request returns at once. The caller commits, then enqueues (``worker.tasks.enqueue``).

Several pipelines: a build created for an event (a push, a pull request, a poll, ``ocelot
build`` without ``--pipeline``) runs the ``default`` pipeline and has no ``event_id`` yet;
its route reads the commit's ``.ocelot/*.yml`` and adds one build per other matching pipeline
(:mod:`ocelot.runner.pipelines`). A build created for one named ``pipeline`` (and a rebuild)
is an event of its own: nothing is added to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, bindparam, false, select
from sqlalchemy.orm import Session, selectinload

from ocelot.errors import Conflict, InvalidRequest, NotFound
from ocelot.lifecycle import move
from ocelot.models import Build, utcnow
from ocelot.models.build import TRIGGERS
from ocelot.pipeline.layout import DEFAULT_PIPELINE, config_path, name_problem
from ocelot.services.repos import get_repo
from ocelot.status import FINISHED, WAITING, BuildStatus

_HASH = re.compile(r"^[0-9a-fA-F]{4,64}$")
_HEX = re.compile(r"^[0-9a-f]{1,64}$")


def create_build(
    session: Session,
    full_name: str,
    *,
    branch: str | None = None,
    hash: str | None = None,
    force: bool = False,
    trigger: str = "cli",
    triggered_by: str | None = None,
    tag: str | None = None,
    pr_id: str | None = None,
    message: str | None = None,
    changeset: dict[str, Any] | None = None,
    trusted: bool = True,
    trust_reason: str | None = None,
    hold: bool = False,
    pipeline: str | None = None,
) -> Build:
    """Write a ``QUEUED`` build for a tracked repo and return it (not yet committed).
    An untrusted build (``trusted=False``, see :mod:`ocelot.services.trust`) with ``hold``
    starts ``PENDING_APPROVAL`` instead, and must not be enqueued. ``pipeline`` None: the
    event's build, which makes the builds of the commit's other pipelines when routed;
    a name: that pipeline alone."""
    repo = get_repo(session, full_name)
    if pipeline is not None and (problem := name_problem(pipeline)) is not None:
        raise InvalidRequest(problem)
    name = pipeline or DEFAULT_PIPELINE
    if trigger not in TRIGGERS:
        raise InvalidRequest(f"trigger must be one of {', '.join(TRIGGERS)}")
    if hash is not None and not _HASH.match(hash):
        raise InvalidRequest(f"{hash!r} is not a commit hash")
    if not branch and not hash and not tag:
        raise InvalidRequest("say what to build: a branch, a hash or both")
    build = Build(
        repo_id=repo.id,
        repo=repo,
        branch=branch or None,
        hash=hash.lower() if hash else None,
        tag=tag,
        pr_id=pr_id,
        message=message,
        forced=force,
        trigger=trigger,
        triggered_by=triggered_by,
        changeset=changeset,
        status=BuildStatus.PENDING_APPROVAL if hold else BuildStatus.QUEUED,
        queued_at=utcnow(),
        pending_reason=f"waiting for the pipeline to read {config_path(name)}",
        trusted=trusted,
        trust_reason=None if trusted else trust_reason,
        pipeline=name,
    )
    session.add(build)
    session.flush()
    if pipeline is not None:
        build.event_id = build.id
    if hold:
        build.pending_reason = hold_reason(build)
    return build


def hold_reason(build: Build) -> str:
    return (
        f"waiting for approval: {build.trust_reason}; a person with a build token runs "
        f"`ocelot approve {build.id}` (or `ocelot decline {build.id}`)"
    )


def get_build(session: Session, build_id: int) -> Build:
    build = session.get(Build, build_id)
    if build is None:
        raise NotFound(f"there is no build {build_id}")
    return build


def list_builds(
    session: Session,
    full_name: str | None = None,
    *,
    hash_prefix: str | None = None,
    branch: str | None = None,
    limit: int = 20,
    pipeline: str | None = None,
) -> Sequence[Build]:
    """Builds newest first, filtered by repo, hash prefix, branch and pipeline. A fixed
    number of statements whatever the number of rows: the repository (when named), the
    builds with their repository, and the stages of all of them at once.

    Each filter has an index (:class:`~ocelot.models.Build`): ``(repo_id, id)`` walked
    backwards for a repository's newest, ``(repo_id, branch, id)`` and ``(branch, id)`` for
    a branch, ``(repo_id, pipeline, id)`` and ``(pipeline, id)`` for a pipeline, ``hash``
    (``varchar_pattern_ops`` in PostgreSQL) for a hash prefix."""
    query = (
        select(Build)
        .options(selectinload(Build.stages))
        .order_by(Build.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    if full_name:
        query = query.where(Build.repo_id == get_repo(session, full_name).id)
    if hash_prefix:
        if not _HASH.match(hash_prefix) and len(hash_prefix) < 4:
            raise InvalidRequest("a hash prefix needs at least 4 hex digits")
        query = query.where(*hash_prefix_filter(session, hash_prefix.lower()))
    if branch:
        query = query.where(Build.branch == branch)
    if pipeline:
        if (problem := name_problem(pipeline)) is not None:
            raise InvalidRequest(problem)
        query = query.where(Build.pipeline == pipeline)
    return list(session.scalars(query).unique())


def hash_prefix_filter(session: Session, prefix: str) -> list[ColumnElement[bool]]:
    """``hash`` starts with ``prefix`` (lower-case hex), in a form the ``hash`` index serves.
    PostgreSQL turns ``LIKE 'abc%'`` into a range on its ``varchar_pattern_ops`` index when
    it sees the pattern, so the pattern is written into the statement, not bound: a
    statement psycopg has prepared may get a generic plan, which cannot (checked hex, so
    nothing to escape). SQLite's LIKE ignores case and so no index: there the range is
    written out, the hashes from ``prefix`` up to the prefix with its last digit one higher
    (binary order)."""
    if not _HEX.match(prefix):
        return [false()]  # stored hashes are lower-case hex: nothing else matches
    like = Build.hash.like(bindparam("hash_prefix", prefix + "%", literal_execute=True))
    if session.get_bind().dialect.name != "sqlite":
        return [like]
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return [Build.hash >= prefix, Build.hash < upper, like]


def kill_build(session: Session, build_id: int, by: str | None) -> Build:
    """Mark a build to be killed. A queued build never starts; a running one is stopped by
    its worker, which sees ``kill_requested_by`` between output batches."""
    build = get_build(session, build_id)
    if build.status in FINISHED:
        raise Conflict(f"build {build_id} has already finished ({build.status})")
    build.kill_requested_by = by or "unknown"
    if build.status in WAITING:
        move(build, BuildStatus.KILLED, f"killed by {build.kill_requested_by} before it started")
    elif build.status == BuildStatus.RUNNING:
        build.pending_reason = None
    return build


def rebuild(session: Session, build_id: int, by: str | None) -> Build:
    """Queue the same commit again (forced: the branch filter already let it through once),
    for the same pipeline only. A rebuild of an untrusted build stays untrusted; a person
    with a build token asked for it, which counts as the approval."""
    old = get_build(session, build_id)
    if old.hash is None:
        raise Conflict(f"build {build_id} never resolved a commit; start a new build instead")
    new = create_build(
        session,
        old.repo.full_name,
        branch=old.branch,
        hash=old.hash,
        force=True,
        trigger="rebuild",
        triggered_by=by,
        tag=old.tag,
        pr_id=old.pr_id,
        message=old.message,
        changeset=old.changeset,
        trusted=old.trusted,
        trust_reason=old.trust_reason,
        pipeline=old.pipeline,
    )
    # still a build of what the upstream built: its stages see the same OCELOT_UPSTREAM_*
    new.upstream_repo, new.upstream_build_id = old.upstream_repo, old.upstream_build_id
    new.upstream_hash = old.upstream_hash
    if not new.trusted:
        new.approved_by, new.approved_at = by or "unknown", utcnow()
    return new
