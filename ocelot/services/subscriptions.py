"""Upstream → downstream builds: subscribe, unsubscribe, list, and the builds a passing
upstream build starts.

A :class:`~ocelot.models.Subscription` says "build DOWNSTREAM's ``downstream_branch`` when a
build of UPSTREAM's ``upstream_branch`` passes" (both default to ``master``). The rules:

* **What counts as the upstream passing.** A build of the subscribed branch, trusted, that is
  not a pull request's nor a tag's, ended PASSED, and so did the rest of its event (the builds
  of the commit's other pipelines; a pipeline skipped by its own ``branches``/``paths`` does
  not count against it). The last build of the event to end starts the downstream builds, so
  an event with three pipelines starts each downstream once, not three times. A build whose
  own trigger was ``upstream`` counts like any other: that is how A → B → C goes on.
* **What is started.** An event of the downstream repository like ``ocelot build`` of its
  branch: the branch's head when it is routed, every matching pipeline, trigger
  ``upstream``, ``triggered_by`` ``acme/lib#42`` (the upstream repository and its event's
  build), and ``upstream_repo``, ``upstream_build_id`` and ``upstream_hash`` on each build
  for the stages (``OCELOT_UPSTREAM_*``). A unique index on (repository, upstream build,
  pipeline) makes a redelivered or concurrent finish start nothing twice.
* **Cycles** are judged by repository, whatever the branches, and refused when subscribing
  (:class:`~ocelot.errors.SubscriptionCycle`, with the loop in build order).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ocelot.errors import Conflict, InvalidRequest, NotFound, SubscriptionCycle
from ocelot.models import Build, Repo, Subscription
from ocelot.models.subscription import DEFAULT_BRANCH
from ocelot.pipeline.layout import DEFAULT_PIPELINE, upstream_failed
from ocelot.services.builds import create_build
from ocelot.services.repos import get_repo
from ocelot.status import FINISHED, BuildStatus

log = logging.getLogger(__name__)

UPSTREAM_TRIGGER = "upstream"
_BRANCH_MAX = 500
_BAD_BRANCH = re.compile(r"[\s\x00-\x1f\x7f~^:?*\[\\]|\.\.|^[-/]|/$|@\{")


def branch_name(value: object, what: str) -> str:
    """A branch name from a request: ``master`` when absent, else a plausible git branch."""
    if value is None or value == "":
        return DEFAULT_BRANCH
    if not isinstance(value, str) or len(value) > _BRANCH_MAX or _BAD_BRANCH.search(value):
        raise InvalidRequest(f"{what} must be a branch name, got {value!r}")
    return value


def subscribe(
    session: Session,
    downstream: str,
    upstream: str,
    *,
    upstream_branch: str | None = None,
    downstream_branch: str | None = None,
    created_by: str | None = None,
) -> Subscription:
    """Build ``downstream`` when ``upstream``'s branch passes. NotTracked for either repo,
    SubscriptionCycle when the builds would go round, Conflict when it exists already."""
    up_branch = branch_name(upstream_branch, "branch")
    down_branch = branch_name(downstream_branch, "downstream_branch")
    down, up = get_repo(session, downstream), get_repo(session, upstream)
    cycle = _path(session, down.id, up.id)
    if cycle is not None:
        names = _names(session, [up.id, *cycle])
        raise SubscriptionCycle(down.full_name, up.full_name, names)
    existing = session.scalar(
        select(Subscription).where(
            Subscription.downstream_id == down.id,
            Subscription.upstream_id == up.id,
            Subscription.upstream_branch == up_branch,
        )
    )
    if existing is not None:
        raise Conflict(
            f"{down.full_name} already subscribes to {up.full_name} (branch {up_branch}; "
            f"subscription {existing.id})"
        )
    row = Subscription(
        downstream_id=down.id,
        downstream=down,
        upstream_id=up.id,
        upstream=up,
        upstream_branch=up_branch,
        downstream_branch=down_branch,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def _path(session: Session, start: int, goal: int) -> list[int] | None:
    """Repository ids from ``start`` to ``goal`` along existing subscriptions in build order
    (upstream → downstream), or None when ``goal`` cannot be reached. ``start == goal`` is a
    path of one: a repository subscribing to itself."""
    edges: dict[int, list[int]] = {}
    for up, down in session.execute(
        select(Subscription.upstream_id, Subscription.downstream_id).order_by(Subscription.id)
    ):
        edges.setdefault(up, []).append(down)
    came_from: dict[int, int | None] = {start: None}
    todo = [start]
    while todo:
        node = todo.pop(0)
        if node == goal:
            path = [node]
            while (prev := came_from[path[-1]]) is not None:
                path.append(prev)
            return path[::-1]
        for nxt in edges.get(node, ()):
            if nxt not in came_from:
                came_from[nxt] = node
                todo.append(nxt)
    return None


def _names(session: Session, ids: Sequence[int]) -> list[str]:
    names = dict(session.execute(select(Repo.id, Repo.full_name).where(Repo.id.in_(ids))).all())
    return [names[i] for i in ids]


def get_subscription(session: Session, subscription_id: int) -> Subscription:
    row = session.get(Subscription, subscription_id)
    if row is None:
        raise NotFound(f"there is no subscription {subscription_id}")
    return row


def unsubscribe(session: Session, subscription_id: int) -> Subscription:
    """Remove a subscription; returns it (as it was)."""
    row = get_subscription(session, subscription_id)
    session.delete(row)
    return row


def list_subscriptions(
    session: Session,
    *,
    repo: str | None = None,
    downstream: str | None = None,
    upstream: str | None = None,
    upstream_branch: str | None = None,
) -> list[Subscription]:
    """Subscriptions by downstream then upstream name; ``repo`` on either side."""
    query = select(Subscription)
    if repo:
        rid = get_repo(session, repo).id
        query = query.where(or_(Subscription.downstream_id == rid, Subscription.upstream_id == rid))
    if downstream:
        query = query.where(Subscription.downstream_id == get_repo(session, downstream).id)
    if upstream:
        query = query.where(Subscription.upstream_id == get_repo(session, upstream).id)
    if upstream_branch:
        query = query.where(Subscription.upstream_branch == upstream_branch)
    rows = list(session.scalars(query).unique())
    rows.sort(key=lambda s: (s.downstream.full_name, s.upstream.full_name, s.upstream_branch))
    return rows


# -- the builds a passing upstream starts ---------------------------------------------------


def may_trigger(build: Build) -> str | None:
    """Why ``build`` cannot start downstream builds (None: it may, once its event passed):
    only trusted builds of a branch do, never a pull request's or a tag's."""
    if build.status != BuildStatus.PASSED:
        return f"it ended {build.status}"
    if not build.trusted:
        return "it is untrusted"
    if build.pr_id is not None or build.trigger == "pull_request":
        return "it is a pull request's build"
    if build.tag is not None or not build.branch:
        return "it is not a branch's build"
    return None


def event_passed(session: Session, build: Build) -> bool:
    """Whether every build of ``build``'s event has ended and none failed (a build skipped
    by its own filters does not count)."""
    if build.event_id is None:
        return build.status == BuildStatus.PASSED
    rows = session.execute(
        select(Build.status, Build.failure_reason).where(Build.event_id == build.event_id)
    ).all()
    return all(
        status in FINISHED and not upstream_failed(status, reason) for status, reason in rows
    )


def trigger_downstream(session: Session, build: Build) -> list[int]:
    """Queue the downstream builds of a passed ``build`` (see the module docstring) and
    return their ids; nothing when it may not trigger, its event has not passed yet, or
    they were queued already. The caller commits, then wakes them (route)."""
    if may_trigger(build) is not None or not event_passed(session, build):
        return []
    subs = session.scalars(
        select(Subscription)
        .where(
            Subscription.upstream_id == build.repo_id,
            Subscription.upstream_branch == build.branch,
        )
        .order_by(Subscription.id)
    ).unique()
    event = build.event_id or build.id
    queued: list[int] = []
    for sub in subs:
        done = session.scalar(
            select(Build.id).where(
                Build.upstream_build_id == event,
                Build.repo_id == sub.downstream_id,
                Build.pipeline == DEFAULT_PIPELINE,
                Build.trigger == UPSTREAM_TRIGGER,
            )
        )
        if done is not None:
            continue
        try:
            with session.begin_nested():
                downstream = create_build(
                    session,
                    sub.downstream.full_name,
                    branch=sub.downstream_branch,
                    trigger=UPSTREAM_TRIGGER,
                    triggered_by=f"{build.repo.full_name}#{event}",
                )
                downstream.upstream_repo = build.repo.full_name
                downstream.upstream_build_id = event
                downstream.upstream_hash = build.hash
                session.flush()
        except IntegrityError:  # another finish of the same event queued it first
            log.info("build %s: %s was already queued", event, sub.downstream.full_name)
            continue
        queued.append(downstream.id)
    return queued


def downstream_of(session: Session, build_id: int) -> list[dict[str, object]]:
    """The builds that build ``build_id`` triggered through subscriptions (one query)."""
    rows = session.execute(
        select(Build.id, Repo.full_name, Build.pipeline, Build.status)
        .join(Repo, Repo.id == Build.repo_id)
        .where(Build.upstream_build_id == build_id, Build.trigger == UPSTREAM_TRIGGER)
        .order_by(Build.id)
    ).all()
    return [
        {"id": row.id, "repo": row.full_name, "pipeline": row.pipeline, "status": row.status}
        for row in rows
    ]
