"""Webhook deliveries → builds: authenticate, deduplicate, parse, filter, record.

:func:`receive` is the whole use-case behind ``POST /hooks/<forge>``. It runs inside the
caller's transaction and returns an :class:`Outcome`; the caller commits, *then* enqueues the
builds and turns ``Outcome.error`` (if any) into the HTTP error. Nothing here touches the
network or git: fetching and validating happen in the pipeline, so the forge gets its answer
quickly.

Order of checks, and why:

1. JSON (400) and repository (404) first: the secret belongs to the repository named in the
   body, so the body must be read to know which key verifies it.
2. Signature (401): a repository with a webhook secret never accepts an unsigned or wrongly
   signed delivery; a repository *without* one accepts nothing either (``ocelot watch``
   sets one). Rejections are recorded but never claim the delivery id.
3. Dedupe (200, ``duplicate``): the delivery id (or, when the forge sends none, a digest of the
   body) is claimed by a unique column in the same transaction as the builds.
4. Parse (200 with the reason when ignored), ``[skip ci]`` / ``[ci skip]`` (200, ``skipped``),
   then one ``QUEUED`` build per event (202).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ocelot.errors import InvalidRequest, NotFound, NotTracked, OcelotError, Unauthorized
from ocelot.forges import Event, Forge, Ignored
from ocelot.forges.base import json_loads, safe_headers
from ocelot.models import Delivery, Repo, RepoHook
from ocelot.models.delivery import ACCEPTED, DUPLICATE, IGNORED, REJECTED, SKIPPED
from ocelot.pipeline import Changeset
from ocelot.services.builds import create_build
from ocelot.services.repos import get_repo
from ocelot.settings import Settings


@dataclass
class Outcome:
    """What to answer the forge, and which builds to enqueue after the commit."""

    status_code: int
    verdict: str
    reason: str
    build_ids: list[int] = field(default_factory=list)
    delivery_id: int | None = None
    error: OcelotError | None = None

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.verdict, "reason": self.reason}
        if self.build_ids:
            data["build_id"] = self.build_ids[0]
            data["build_ids"] = self.build_ids
        if self.delivery_id is not None:
            data["delivery"] = self.delivery_id
        return data


# -- webhook secrets -------------------------------------------------------------------------


def hook_row(session: Session, repo: Repo, create: bool = False) -> RepoHook | None:
    row = session.scalar(select(RepoHook).where(RepoHook.repo_id == repo.id))
    if row is None and create:
        row = RepoHook(repo_id=repo.id)
        session.add(row)
    return row


def _secret_path(repo: Repo) -> str:
    return f"hooks/{repo.id}/webhook"


def webhook_secret(session: Session, settings: Settings, repo: Repo) -> str | None:
    """The repo's webhook secret, from the secret store (encrypted DB or Vault)."""
    from ocelot.secrets import open_backend

    try:
        return open_backend(settings, session).read(_secret_path(repo)).get("secret") or None
    except NotFound:
        return None


def forget_webhook_secret(session: Session, settings: Settings, repo: Repo) -> None:
    from ocelot.secrets import open_backend

    open_backend(settings, session).delete(_secret_path(repo))


def set_webhook_secret(
    session: Session, settings: Settings, full_name: str, secret: str | None = None
) -> str:
    """Set (or generate) the webhook secret of a tracked repo; return it. The secret goes to
    the secret store like every credential: HMAC needs the key itself, so no digest will do."""
    from ocelot.secrets import open_backend

    repo = get_repo(session, full_name)
    value = secret or secrets.token_urlsafe(32)
    if len(value) < 16:
        raise InvalidRequest("a webhook secret needs at least 16 characters")
    hook_row(session, repo, create=True)
    open_backend(settings, session).write(_secret_path(repo), {"secret": value})
    session.flush()
    return value


def find_repo(session: Session, name: str) -> Repo | None:
    """The tracked repo a forge calls ``name`` (forges compare names case-insensitively)."""
    repo = session.scalar(select(Repo).where(Repo.full_name == name))
    if repo is None:
        repo = session.scalar(select(Repo).where(func.lower(Repo.full_name) == name.lower()))
    return repo


# -- receiving -------------------------------------------------------------------------------


def _record(
    session: Session, forge: Forge, headers: Mapping[str, str], repo: Repo, **fields: Any
) -> Delivery:
    row = Delivery(
        forge=forge.name,
        delivery_id=(forge.delivery_id(headers) or None),
        repo_id=repo.id,
        repo_name=repo.full_name,
        event=forge.event_name(headers)[:100] or None,
        headers=safe_headers(headers),
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def _dedupe_key(forge: Forge, headers: Mapping[str, str], body: bytes) -> str:
    delivery = forge.delivery_id(headers)
    if delivery:
        return f"{forge.name}:{delivery}"[:300]
    return f"{forge.name}:sha256:{hashlib.sha256(body).hexdigest()}"


def receive(
    session: Session, settings: Settings, forge: Forge, headers: Mapping[str, str], body: bytes
) -> Outcome:
    """Handle one delivery (see the module docstring). Raises InvalidRequest (400) and
    NotTracked (404), which are not recorded: they name no tracked repository."""
    try:
        payload = json_loads(body)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the webhook body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the webhook body must be a JSON object")
    name = forge.repo_name(payload)
    if not name:
        raise InvalidRequest(f"this {forge.name} payload names no repository")
    repo = find_repo(session, name)
    if repo is None:
        raise NotTracked(name)

    secret = webhook_secret(session, settings, repo)
    if not secret or not forge.verify(headers, body, secret):
        reason = (
            f"{repo.full_name} has no webhook secret: run `ocelot watch {repo.full_name}`"
            if not secret
            else "the delivery is not signed with this repository's webhook secret"
        )
        row = _record(
            session, forge, headers, repo, verdict=REJECTED, reason=reason, status_code=401
        )
        return Outcome(401, REJECTED, reason, delivery_id=row.id, error=Unauthorized(reason))

    key = _dedupe_key(forge, headers, body)
    earlier = session.scalar(select(Delivery).where(Delivery.dedupe_key == key))
    claim: Delivery | None = None
    if earlier is None:
        try:
            with session.begin_nested():
                claim = _record(
                    session, forge, headers, repo, dedupe_key=key, verdict=ACCEPTED, status_code=202
                )
        except IntegrityError:  # a concurrent redelivery claimed it a moment ago
            earlier = session.scalar(select(Delivery).where(Delivery.dedupe_key == key))
    if earlier is not None or claim is None:
        reason = f"delivery {forge.delivery_id(headers) or key} was received already"
        row = _record(
            session, forge, headers, repo, verdict=DUPLICATE, reason=reason, status_code=200,
            build_id=earlier.build_id if earlier else None,
        )  # fmt: skip
        ids = [earlier.build_id] if earlier and earlier.build_id else []
        return Outcome(200, DUPLICATE, reason, ids, delivery_id=row.id)

    outcome = _build(session, repo, forge.parse(headers, payload))
    claim.verdict, claim.reason = outcome.verdict, outcome.reason
    claim.status_code = outcome.status_code
    claim.build_id = outcome.build_ids[0] if outcome.build_ids else None
    outcome.delivery_id = claim.id
    return outcome


def _build(session: Session, repo: Repo, parsed: Event | Ignored | list[Event]) -> Outcome:
    if isinstance(parsed, Ignored):
        return Outcome(200, IGNORED, parsed.reason)
    events = parsed if isinstance(parsed, list) else [parsed]
    ids: list[int] = []
    skipped: list[str] = []
    for event in events:
        what = event.tag or event.branch or event.sha[:7]
        if not event.sha:
            skipped.append(f"{what}: the payload names no commit")
            continue
        if Changeset(branch=event.branch or "", messages=event.messages).skip_requested:
            skipped.append(f"{what}: [skip ci] in a commit message")
            continue
        build = create_build_for_event(session, repo, event)
        ids.append(build.id)
    if ids:
        reason = f"queued build{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}"
        if skipped:
            reason += "; skipped " + "; ".join(skipped)
        return Outcome(202, ACCEPTED, reason, ids)
    return Outcome(200, SKIPPED, "not built: " + "; ".join(skipped))


def create_build_for_event(session: Session, repo: Repo, event: Event) -> Any:
    """A QUEUED build for ``event`` recording what (push, pull_request, tag) and who."""
    changeset = event.changeset()
    if event.source_branch:
        changeset["source_branch"] = event.source_branch
    return create_build(
        session,
        repo.full_name,
        branch=event.branch,
        hash=event.sha,
        trigger=event.trigger,
        triggered_by=event.actor,
        tag=event.tag,
        pr_id=event.pr_id,
        message=event.title,
        changeset=changeset,
    )
