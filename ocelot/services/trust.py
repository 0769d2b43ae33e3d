"""The trust boundary: which builds run code from outside, and what such builds may have.

A build is *untrusted* when the code it runs was written by someone who could not push to the
repository: a pull request (merge request) whose head lives in another repository than its
base, as the forge reports it, or any pull request of a repository set to
``untrusted_prs=all``. Pushes, same-repository pull requests, tags, polls, CLI/API builds
and rebuilds of trusted builds are trusted. See docs/security.md for the whole model.

What an untrusted build gets, decided here and enforced by the runner:

* it waits in ``PENDING_APPROVAL`` until a ``build`` token approves it, unless the repository
  says ``fork_prs=run`` (``ignore`` makes no build at all);
* no credential of any kind (env secrets, ssh keys, registry logins, maven settings);
* never the local executor (a ``machineTag`` ends it ``FAILED_PRESTART``);
* the ``notify`` block of the destination branch's ocelot.yml, not its own.

Credentials of trusted builds are scoped like GitLab's protected variables: a credential
may name the events and the branch (or tag) patterns whose builds get it
(:func:`credential_applies`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ocelot.credtypes import SCOPE_EVENTS
from ocelot.errors import Conflict, InvalidRequest
from ocelot.lifecycle import move
from ocelot.models import Build, Repo, utcnow
from ocelot.models.repo import FORK_PR_POLICIES, UNTRUSTED_PRS
from ocelot.services.builds import get_build
from ocelot.status import BuildStatus

MAX_PATTERNS = 50


@dataclass(frozen=True)
class Trust:
    """Whether a build's code may be trusted, and if not, why (shown to people)."""

    trusted: bool
    reason: str | None = None


TRUSTED = Trust(True)


def trust_of_pull_request(
    repo: Repo, pr_id: str | None, fork: bool, source_repo: str | None
) -> Trust:
    """The trust of a pull request build of ``repo`` from the forge's facts."""
    number = f"#{pr_id}" if pr_id else "(no number)"
    if fork:
        origin = source_repo or "a repository the forge no longer names (deleted fork?)"
        return Trust(False, f"pull request {number} comes from {origin}, not {repo.full_name}")
    if repo.untrusted_prs == "all":
        return Trust(
            False,
            f"pull request {number}: {repo.full_name} treats every pull request as untrusted "
            "(untrusted_prs=all)",
        )
    return TRUSTED


def approve(session: Session, build_id: int, by: str | None) -> Build:
    """``PENDING_APPROVAL → QUEUED``; the caller commits, then enqueues. The build stays
    untrusted: approval lets it run, never gives it credentials."""
    build = _waiting_for_approval(session, build_id)
    move(build, BuildStatus.QUEUED, pending="waiting for the pipeline to read ocelot.yml")
    build.approved_by = by or "unknown"
    build.approved_at = utcnow()
    build.queued_at = utcnow()  # the wait for a worker starts now
    return build


def decline(session: Session, build_id: int, by: str | None) -> Build:
    """``PENDING_APPROVAL → DECLINED``: the build never runs."""
    build = _waiting_for_approval(session, build_id)
    return move(build, BuildStatus.DECLINED, f"declined by {by or 'unknown'}: {build.trust_reason}")


def _waiting_for_approval(session: Session, build_id: int) -> Build:
    build = get_build(session, build_id)
    if build.status != BuildStatus.PENDING_APPROVAL:
        raise Conflict(f"build {build_id} is not waiting for approval ({build.status})")
    return build


# -- repository settings -----------------------------------------------------------------------


def set_repo_policy(
    repo: Repo, *, fork_prs: str | None = None, untrusted_prs: str | None = None
) -> Repo:
    if fork_prs is not None:
        if fork_prs not in FORK_PR_POLICIES:
            raise InvalidRequest(f"fork_prs must be one of {', '.join(FORK_PR_POLICIES)}")
        repo.fork_prs = fork_prs
    if untrusted_prs is not None:
        if untrusted_prs not in UNTRUSTED_PRS:
            raise InvalidRequest(f"untrusted_prs must be one of {', '.join(UNTRUSTED_PRS)}")
        repo.untrusted_prs = untrusted_prs
    return repo


# -- credential scopes -------------------------------------------------------------------------


def check_scope(
    events: Iterable[str] | None, branches: Iterable[str] | None
) -> tuple[list[str] | None, list[str] | None]:
    """Validate and normalise a credential scope (None or empty = no limit)."""
    out_events: list[str] | None = None
    if events is not None:
        if isinstance(events, str):
            raise InvalidRequest("events must be a list of event names")
        out_events = sorted({str(e).strip() for e in events if str(e).strip()})
        unknown = [e for e in out_events if e not in SCOPE_EVENTS]
        if unknown:
            raise InvalidRequest(
                f"unknown event(s) {', '.join(unknown)}: use {', '.join(SCOPE_EVENTS)}"
            )
        out_events = out_events or None
    out_branches: list[str] | None = None
    if branches is not None:
        if isinstance(branches, str):
            raise InvalidRequest("branches must be a list of patterns")
        out_branches = [str(b).strip() for b in branches if str(b).strip()]
        if len(out_branches) > MAX_PATTERNS or any(len(b) > 200 for b in out_branches):
            raise InvalidRequest(f"at most {MAX_PATTERNS} branch patterns of 200 characters")
        out_branches = out_branches or None
    return out_events, out_branches


def scope_ref(build: Build) -> str | None:
    """The ref a credential's branch patterns are matched against: the tag of a tag build,
    the *source* branch of a pull request (where its code comes from), else the branch."""
    if build.tag:
        return build.tag
    if build.trigger == "pull_request" or build.pr_id:
        source = (build.changeset or {}).get("source_branch")
        return str(source) if source else None
    return build.branch


def credential_applies(
    events: Sequence[str] | None, branches: Sequence[str] | None, build: Build
) -> bool:
    """Whether a trusted ``build`` gets a credential scoped to ``events`` / ``branches``.
    Patterns are shell globs (``release/*``), matched case-sensitively: no regex, so a
    pattern can never cost more than linear time."""
    if not build.trusted:
        return False
    if events and build.trigger not in events:
        return False
    if branches:
        ref = scope_ref(build)
        if ref is None or not any(fnmatch.fnmatchcase(ref, pattern) for pattern in branches):
            return False
    return True
