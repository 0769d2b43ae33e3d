"""Telling the forge how a build goes: commit status, and one PR comment kept up to date.

Called from the ``forge`` queue's tasks (``worker/tasks/forge.py``) when a build starts and
when it ends. Both reports read the build's *current* status, so a late or retried message
can never move a forge backwards (a "running" report arriving after the build passed reports
"passed"). Repositories on plain git, builds without a commit, and accounts without a vcs
token are skipped (logged, not errors): a forge report never fails or blocks a build.

PR comments: one per pull request. With several pipelines it has a line per pipeline (the
newest build of each for the PR's commit), so each pipeline's report edits its own line in.
The first report of a pull request *claims* the ``pr_comments`` row (unique per
repo and PR) before asking the forge to create the comment, so two concurrent reports cannot
both create one; the loser is told to retry and then edits the comment the winner created.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ocelot.errors import ForgeError
from ocelot.forges import WEBHOOK_FORGES, Forge
from ocelot.forges.base import StatusState, status_context
from ocelot.models import Build, PrComment, utcnow
from ocelot.services.builds import get_build
from ocelot.services.watch import api_forge
from ocelot.settings import Settings
from ocelot.status import BuildStatus

log = logging.getLogger(__name__)

STATES: dict[str, tuple[StatusState, str]] = {
    BuildStatus.QUEUED: ("pending", "queued"),
    BuildStatus.RUNNING: ("pending", "running"),
    BuildStatus.PASSED: ("success", "passed"),
    BuildStatus.FAILED: ("failure", "failed"),
    BuildStatus.FAILED_PRESTART: ("error", "could not start"),
    BuildStatus.KILLED: ("error", "killed"),
    BuildStatus.SKIPPED: ("success", "skipped"),
    BuildStatus.PENDING_APPROVAL: ("pending", "waiting for approval"),
    BuildStatus.DECLINED: ("error", "declined"),
}
ICONS = {"pending": "⏳", "success": "✅", "failure": "❌", "error": "⚠️"}
CLAIMING = "creating"


def build_url(settings: Settings, build_id: int) -> str:
    """The build's page on the dashboard (the link notifications send too)."""
    return f"{settings.public_url}/builds/{build_id}"


def reportable(build: Build) -> bool:
    """Whether the build's commit can carry a status: a forge with an API, and a commit.
    (What :func:`set_status` and :func:`update_comment` ask first; the worker asks it too,
    so it sends no report task that would find nothing to do.)"""
    return build.repo.vcs_type in WEBHOOK_FORGES and bool(build.hash)


def _forge_for(
    session: Session, settings: Settings, build: Build, forge: Forge | None
) -> Forge | None:
    if not reportable(build):
        return None
    return forge or api_forge(session, settings, build.repo)


def describe(build: Build) -> tuple[StatusState, str]:
    state, word = STATES.get(build.status, ("pending", build.status.lower()))
    reason = f": {build.failure_reason.splitlines()[0]}" if build.failure_reason else ""
    return state, f"Ocelot build {build.id} {word}{reason}"


def set_status(
    session: Session, settings: Settings, build_id: int, forge: Forge | None = None
) -> str | None:
    """Report the build's current status on its commit; return the state sent (or None)."""
    build = get_build(session, build_id)
    client = _forge_for(session, settings, build, forge)
    if client is None:
        return None
    state, description = describe(build)
    assert build.hash is not None
    client.set_status(
        build.repo.full_name,
        build.hash,
        state,
        build_url(settings, build.id),
        description,
        context=status_context(build.pipeline),
    )
    return state


def comment_body(settings: Settings, build: Build, runs: Sequence[Build] = ()) -> str:
    """The PR comment: ``build``'s result, or with several pipelines (``runs``: the newest
    build of each pipeline for this commit) one line per pipeline."""
    sha = (build.hash or "")[:7]
    origin = f"({build.trigger} by {build.triggered_by or 'unknown'})"
    footer = "<sub>This comment is edited as builds of this pull request progress.</sub>"
    if len(runs) <= 1:
        state, description = describe(build)
        return (
            f"{ICONS[state]} **{description}** for `{sha}` {origin}.\n\n"
            f"Details: {build_url(settings, build.id)}\n\n{footer}"
        )
    lines = []
    for run in runs:
        state, description = describe(run)
        lines.append(
            f"- {ICONS[state]} pipeline **{run.pipeline}**: {description}"
            f" ({build_url(settings, run.id)})"
        )
    return f"Ocelot on `{sha}` {origin}:\n\n" + "\n".join(lines) + f"\n\n{footer}"


def pipeline_runs(session: Session, build: Build) -> list[Build]:
    """The newest build of each pipeline for ``build``'s pull request and commit, by name."""
    newest: dict[str, Build] = {}
    for run in session.scalars(
        select(Build)
        .where(Build.repo_id == build.repo_id, Build.pr_id == build.pr_id, Build.hash == build.hash)
        .order_by(Build.id.desc())
    ):
        newest.setdefault(run.pipeline, run)
    return [newest[name] for name in sorted(newest)]


def update_comment(
    session: Session, settings: Settings, build_id: int, forge: Forge | None = None
) -> str | None:
    """Create this PR's Ocelot comment, or edit it; return the comment id (None: not a PR).

    Commits its claim on the ``pr_comments`` row itself (see the module docstring)."""
    build = get_build(session, build_id)
    if not build.pr_id:
        return None
    client = _forge_for(session, settings, build, forge)
    if client is None:
        return None
    body = comment_body(settings, build, pipeline_runs(session, build))
    repo, pr_id = build.repo.full_name, build.pr_id
    where = (PrComment.repo_id == build.repo_id, PrComment.pr_id == pr_id)
    row = session.scalar(select(PrComment).where(*where))
    if row is not None and row.comment_id != CLAIMING:
        client.edit_comment(repo, pr_id, row.comment_id, body)
        row.updated_at = utcnow()
        return row.comment_id
    if row is not None:  # another report is creating it right now
        raise ForgeError(f"the comment on {repo} PR {pr_id} is being created", retryable=True)
    try:
        with session.begin_nested():
            session.add(PrComment(repo_id=build.repo_id, pr_id=pr_id, comment_id=CLAIMING))
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ForgeError(
            f"the comment on {repo} PR {pr_id} is being created", retryable=True
        ) from None
    try:
        comment_id = client.create_comment(repo, pr_id, body)
    except Exception:
        session.execute(delete(PrComment).where(*where))
        session.commit()
        raise
    row = session.scalar(select(PrComment).where(*where))
    assert row is not None
    row.comment_id, row.updated_at = comment_id, utcnow()
    return comment_id
