"""Route: from a QUEUED build row to the queue of the workers that can run it.

A build runs one pipeline: ``ocelot.yml`` (``default``) or ``.ocelot/<name>.yml``. An event's
first build also makes the builds of the commit's other pipelines here, and a build whose
pipeline ``depends_on`` another waits for it: :mod:`ocelot.runner.pipelines`."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from sqlalchemy import select

from ocelot import gitops
from ocelot.db import session_scope
from ocelot.errors import ConfigError, OcelotError
from ocelot.lifecycle import move
from ocelot.logstream import publish_end
from ocelot.models import Build
from ocelot.pipeline import BuildConfig, Changeset, check_branch, load_config, paths_verdict
from ocelot.pipeline.layout import DEFAULT_PIPELINE, DIRECTORY, config_path, pipeline_files
from ocelot.queues import builds_queue
from ocelot.runner import pipelines
from ocelot.runner.clone_auth import clone_credentials
from ocelot.runner.context import RunContext
from ocelot.services.changesets import complete as complete_changeset
from ocelot.status import BuildStatus

log = logging.getLogger(__name__)

CONFIG_FILE = "ocelot.yml"
_FULL_HASH = re.compile(r"^[0-9a-f]{40}$")


def queue_for(machine_tag: str | None) -> str:
    return builds_queue(machine_tag)  # named in ocelot/queues.py, with every other queue


def _stop(build: Build, status: BuildStatus, reason: str) -> None:
    """End a build that will not run (QUEUED → FAILED_PRESTART | SKIPPED)."""
    move(build, status, reason)


def _destination_config(
    objects: gitops.Objects, branch: str | None, path: str = CONFIG_FILE
) -> str | None:
    """The pipeline's file (``path``) at the head of a pull request's destination branch
    (None if unreadable or not there): the file whose ``notify`` block an untrusted build
    obeys."""
    if not branch:
        return None
    try:
        head = objects.resolve(hash=None, branch=branch, tag=None)
        return objects.read_file(head, path)
    except OcelotError:
        return None


def _other_pipelines(objects: gitops.Objects, commit: str) -> dict[str, str | None]:
    """``{name: text}`` of the commit's ``.ocelot/<name>.yml`` pipelines (files that cannot
    be pipelines are logged; ``ocelot validate`` names them)."""
    found, problems = pipeline_files(objects.list_dir(commit, DIRECTORY))
    for problem in problems:
        log.info("%s at %s: %s", DIRECTORY, commit[:7], problem)
    return {
        name: objects.read_file(commit, path)
        for name, path in found.items()
        if name != DEFAULT_PIPELINE
    }


def _fetched(ctx: RunContext, repo_id: int, url: str, full_hash: str | None) -> Path:
    """The repository's mirror, fetched now, unless the build names a full commit hash that
    the mirror already holds (the event's other pipelines, a rebuild, a hook for a commit
    already fetched): a commit never changes, so there is nothing to fetch for it. Untrusted
    builds always fetch: they also read the head of the destination branch."""
    mirrors, key = ctx.settings.mirrors, str(repo_id)
    if full_hash and _FULL_HASH.match(full_hash):
        mirror = mirrors / f"{key}.git"
        if (mirror / "HEAD").exists() and gitops.has_commit(mirror, full_hash):
            return mirror
    with clone_credentials(ctx, repo_id) as git_env:
        return gitops.sync_mirror(mirrors, key, url, git_env)


def _read(
    mirror: Path, want: dict[str, str | None], path: str, trusted: bool, first_of_event: bool
) -> tuple[str, str | None, str | None, dict[str, str | None] | None, str]:
    """What route needs of the fetched mirror, from one git process: the commit, the
    pipeline's file, the destination branch's file (untrusted builds), the event's other
    pipelines (its first build) and the commit's subject."""
    with gitops.Objects(mirror) as objects:
        commit = objects.resolve(**want)
        text = objects.read_file(commit, path)
        base_text = None if trusted else _destination_config(objects, want["branch"], path)
        others = _other_pipelines(objects, commit) if first_of_event else None
        return commit, text, base_text, others, objects.subject(commit)


def route(ctx: RunContext, build_id: int) -> str | None:
    """Resolve, validate and filter the build; return the queue for ``prepare`` or None when
    the build will not run (invalid config, refused branch, killed meanwhile). A build that
    ends here is announced like any finished build (live followers, forge status, notices)."""
    queue = _route(ctx, build_id)
    if queue is None:
        with session_scope(ctx.engine) as session:
            status = session.scalar(select(Build.status).where(Build.id == build_id))
        if status in (BuildStatus.FAILED_PRESTART, BuildStatus.SKIPPED):
            publish_end(ctx.redis, build_id, status)
            ctx.build_finished(build_id, status)
    return queue


def _route(ctx: RunContext, build_id: int) -> str | None:
    with session_scope(ctx.engine) as session:
        build = session.get(Build, build_id)
        if build is None or build.status != BuildStatus.QUEUED:
            return None
        url, repo_id = build.repo.url, build.repo_id
        want = {"hash": build.hash, "branch": build.branch, "tag": build.tag}
        changeset = build.changeset
        trusted = build.trusted
        path = config_path(build.pipeline)
        first_of_event = build.event_id is None
    try:
        mirror = _fetched(ctx, repo_id, url, want["hash"] if trusted else None)
        commit, text, base_text, others, subject = _read(
            mirror, want, path, trusted, first_of_event
        )
        changeset = complete_changeset(mirror, changeset, commit)  # truncated hook payloads
    except OcelotError as exc:  # source unreachable, credentials unreadable
        with session_scope(ctx.engine) as session:
            build = session.get(Build, build_id)
            if build is not None and build.status == BuildStatus.QUEUED:
                _stop(
                    build,
                    BuildStatus.FAILED_PRESTART,
                    f"could not fetch the repository: {exc.message}",
                )
        return None
    event: pipelines.EventBuilds | None = None
    with session_scope(ctx.engine) as session:
        build = session.get(Build, build_id)
        if build is None or build.status != BuildStatus.QUEUED:
            return None
        build.hash = commit
        build.message = build.message or subject
        build.config_text = text
        if changeset is not None:
            build.changeset = changeset
        if not trusted:  # whom to notify: the destination branch's file decides
            build.trusted_config_text = base_text
        if others is not None and build.event_id is None:
            texts = {**others, build.pipeline: text}
            event = pipelines.add_event_builds(session, build, texts)
        verdict = _check(build, text, commit, path, others, event)
        queue: str | None = None
        if not isinstance(verdict, BuildConfig):
            _stop(build, *verdict)
        else:
            build.image = verdict.image
            build.machine_tag = verdict.machine_tag
            after = pipelines.dependency_verdict(session, build, verdict.depends_on)
            if after.action == "skip":
                _stop(build, BuildStatus.SKIPPED, after.reason)
            elif after.action == "wait":
                pipelines.hold(build, after)
            else:
                queue = queue_for(verdict.machine_tag)
                build.pending_reason = pipelines.ready_reason(verdict.machine_tag, queue)
    if event is not None:  # committed: route the event's other builds, announce the ended
        for other in event.to_route:
            ctx.wake(other)
        for other in event.ended:
            publish_end(ctx.redis, other, BuildStatus.FAILED_PRESTART)
            ctx.build_finished(other, BuildStatus.FAILED_PRESTART)
    return queue


def _check(
    build: Build,
    text: str | None,
    commit: str,
    path: str = CONFIG_FILE,
    others: dict[str, str | None] | None = None,
    event: pipelines.EventBuilds | None = None,
) -> BuildConfig | tuple[BuildStatus, str]:
    """The config of a build that will run, or the status and reason it ends with now."""
    messages = (build.changeset or {}).get("messages") or ()
    if not build.forced and Changeset(build.branch or "", messages).skip_requested:
        return BuildStatus.SKIPPED, "[skip ci] in a commit message of the push"
    if text is None and others:  # the commit has pipelines, just not this one
        names = ", ".join(sorted(others))
        return BuildStatus.SKIPPED, f"there is no {path} at {commit[:7]} (its pipelines: {names})"
    if text is None:
        return BuildStatus.FAILED_PRESTART, f"there is no {path} at {commit[:7]}"
    try:
        config = load_config(text)
    except ConfigError as exc:
        lines = "\n".join(f"  {issue.located(path)}" for issue in exc.issues)
        return BuildStatus.FAILED_PRESTART, f"{path} is invalid:\n{lines}"
    if event is not None and build.pipeline in event.cycles:
        return BuildStatus.FAILED_PRESTART, f"dependency cycle: {event.cycles[build.pipeline]}"
    if not build.forced and build.tag is None:
        try:
            check_branch(config, build.branch or "")
        except ConfigError as exc:
            return BuildStatus.SKIPPED, exc.message
    if not build.forced:
        runs, why = paths_verdict(config.paths, build.changeset)
        if not runs:
            return BuildStatus.SKIPPED, why
    if not build.trusted and config.machine_tag:  # an untrusted file may not choose a host
        return BuildStatus.FAILED_PRESTART, (
            f"machineTag {config.machine_tag!r} refused: this build is untrusted "
            f"({build.trust_reason}), and untrusted builds run only in Docker containers, "
            "never on a tagged worker host"
        )
    return config
