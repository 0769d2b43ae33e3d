"""Polls: build new commits of a repository's branches on a cron schedule.

* :func:`set_poll` / :func:`list_polls` / :func:`delete_poll` — one poll per repository.
* :func:`due_polls` — ids of the polls whose next cron time has passed (beat asks every 30 s).
* :func:`run_poll` — fetch the mirror (with the account's clone credentials, as the pipeline
  does), compare branch heads with ``last_hashes`` and queue one
  build per moved branch (trigger ``poll``, by ``poller``) with the changeset since the last
  polled hash. Returns the new build ids; the caller enqueues them (after our commit).

The first run of a poll records the heads it finds as the baseline and builds nothing (a new
poll should not rebuild history); after that, every head that moved builds once, and with
``ALL`` a branch that appears later is new and builds. A poll is claimed with a
compare-and-set on ``last_polled_at``, so two beats (or a redelivered message) cannot run it
twice for the same tick; the hashes are only advanced together with the builds they made.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from croniter import croniter
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ocelot import gitops
from ocelot.db import session_scope
from ocelot.errors import InvalidRequest, NotFound, OcelotError
from ocelot.models import Poll, Repo, utcnow
from ocelot.models.poll import ALL
from ocelot.pipeline import Changeset
from ocelot.services.builds import create_build
from ocelot.services.changesets import between
from ocelot.services.repos import get_repo
from ocelot.settings import Settings

log = logging.getLogger(__name__)

POLLER = "poller"


def parse_branches(value: str | list[str]) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` → names; ``ALL`` alone means every branch."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(b).strip() for b in items if str(b).strip()]
    if not names:
        raise InvalidRequest("name the branches to poll (a,b,c) or ALL")
    if ALL in names:
        return [ALL]
    return list(dict.fromkeys(names))


def set_poll(session: Session, full_name: str, cron: str, branches: str | list[str]) -> Poll:
    """Create or replace the poll of ``full_name``."""
    repo = get_repo(session, full_name)
    if not croniter.is_valid(cron):
        raise InvalidRequest(f"{cron!r} is not a cron expression (e.g. '*/5 * * * *')")
    names = parse_branches(branches)
    poll = session.scalar(select(Poll).where(Poll.repo_id == repo.id))
    if poll is None:
        poll = Poll(repo_id=repo.id, repo=repo, last_hashes={})
        session.add(poll)
    poll.cron, poll.branches = cron, names
    session.flush()
    return poll


def list_polls(session: Session) -> list[Poll]:
    return list(session.scalars(select(Poll).join(Repo).order_by(Repo.full_name)).unique())


def get_poll(session: Session, full_name: str) -> Poll:
    repo = get_repo(session, full_name)
    poll = session.scalar(select(Poll).where(Poll.repo_id == repo.id))
    if poll is None:
        raise NotFound(f"{full_name} is not polled")
    return poll


def delete_poll(session: Session, full_name: str) -> None:
    session.delete(get_poll(session, full_name))


def next_run(poll: Poll) -> datetime:
    start = poll.last_polled_at or poll.created_at
    return croniter(poll.cron, start.astimezone(UTC)).get_next(datetime)  # type: ignore[no-any-return]


def due_polls(session: Session, now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    return [p.id for p in list_polls(session) if p.last_polled_at is None or next_run(p) <= now]


def _claim(engine: Engine, poll_id: int) -> tuple[int, str, list[str], dict[str, str], bool] | None:
    with session_scope(engine) as session:
        poll = session.get(Poll, poll_id)
        if poll is None:
            return None
        seen = poll.last_polled_at
        done = session.execute(
            update(Poll)
            .where(Poll.id == poll_id)
            .where(Poll.last_polled_at.is_(None) if seen is None else Poll.last_polled_at == seen)
            .values(last_polled_at=utcnow())
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return None
        first = seen is None and not poll.last_hashes
        return poll.repo_id, poll.repo.url, list(poll.branches), dict(poll.last_hashes or {}), first


def run_poll(engine: Engine, settings: Settings, poll_id: int) -> list[int]:
    """One poll run (see the module docstring); returns the ids of the builds it queued."""
    claimed = _claim(engine, poll_id)
    if claimed is None:
        return []
    repo_id, url, branches, last, first = claimed
    from ocelot.runner.clone_auth import clone_credentials  # runner code: imported late
    from ocelot.runner.context import RunContext

    try:
        # the account's ssh key or forge token, as the pipeline fetches (private repos)
        with clone_credentials(RunContext(settings, engine), repo_id) as git_env:
            mirror = gitops.sync_mirror(settings.mirrors, str(repo_id), url, git_env)
        heads = gitops.branch_heads(mirror)
    except OcelotError as exc:
        # A repository git cannot read is an error to show (`ocelot poll list`), never
        # "no branches": the heads stay as they were, and the next run tries again.
        log.warning("poll %s (repo id %s) failed: %s", poll_id, repo_id, exc.message)
        with session_scope(engine) as session:
            poll = session.get(Poll, poll_id)
            if poll is not None:
                poll.last_error = exc.message
        return []
    watched = heads if ALL in branches else {b: heads[b] for b in branches if b in heads}
    plans = []
    for branch, sha in sorted(watched.items()):
        if last.get(branch) == sha or (first and branch not in last):
            continue
        plans.append((branch, sha, between(mirror, last.get(branch), sha)))
    ids: list[int] = []
    with session_scope(engine) as session:
        poll = session.get(Poll, poll_id)
        if poll is None:
            return []
        for branch, sha, found in plans:
            messages = (found or {}).get("messages", [])
            if Changeset(branch, messages).skip_requested:
                continue
            changeset = {**(found or {}), "before": last.get(branch), "after": sha}
            build = create_build(
                session, poll.repo.full_name, branch=branch, hash=sha, trigger="poll",
                triggered_by=POLLER, changeset={k: v for k, v in changeset.items() if v},
            )  # fmt: skip
            ids.append(build.id)
        poll.last_hashes = {**last, **watched}
        poll.last_error = None
    return ids
