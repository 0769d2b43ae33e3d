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
   body) is claimed by a unique column in the same transaction as the builds. A body already
   *accepted* for the repository in the last 24 hours under another delivery id is a replay
   of a captured delivery and is answered ``duplicate`` too (``body_digest``, SHA-256).
4. Parse (200 with the reason when ignored), ``[skip ci]`` / ``[ci skip]`` (200, ``skipped``),
   then one ``QUEUED`` build per event (202).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ocelot.errors import InvalidRequest, NotFound, NotTracked, OcelotError, Unauthorized
from ocelot.forges.base import Event, Forge, Ignored, JSONTooDeep, json_loads, safe_headers
from ocelot.models import Delivery, Repo, RepoHook, utcnow
from ocelot.pipeline import Changeset
from ocelot.services.builds import create_build
from ocelot.services.repos import get_repo
from ocelot.services.trust import TRUSTED, Trust, trust_of_pull_request
from ocelot.settings import Settings
from ocelot.status import BuildStatus, DeliveryVerdict

# A verified body accepted once is refused for this long under any other delivery id (replay).
REPLAY_WINDOW = timedelta(hours=24)


@dataclass
class Outcome:
    """What to answer the forge, and which builds to enqueue after the commit."""

    status_code: int
    verdict: str
    reason: str
    build_ids: list[int] = field(default_factory=list)
    delivery_id: int | None = None
    error: OcelotError | None = None
    # Builds created but waiting for approval: not to be enqueued.
    held: list[int] = field(default_factory=list)

    @property
    def to_enqueue(self) -> list[int]:
        """The builds to wake after the commit (queued ones, not those held for approval)."""
        if self.status_code != 202:
            return []
        return [i for i in self.build_ids if i not in self.held]

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.verdict, "reason": self.reason}
        if self.build_ids:
            data["build_id"] = self.build_ids[0]
            data["build_ids"] = self.build_ids
        if self.held:
            data["held_for_approval"] = self.held
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


def _accepted_body(session: Session, repo: Repo, digest: str) -> Delivery | None:
    """The delivery that already got these exact bytes accepted for ``repo`` within
    :data:`REPLAY_WINDOW`, if any: the same body under a new delivery id is a replay."""
    since = utcnow() - REPLAY_WINDOW
    return session.scalar(
        select(Delivery)
        .where(
            Delivery.repo_id == repo.id,
            Delivery.body_digest == digest,
            Delivery.verdict == DeliveryVerdict.ACCEPTED,
            Delivery.received_at >= since,
        )
        .order_by(Delivery.id)
        .limit(1)
    )


def _replay(
    session: Session,
    forge: Forge,
    headers: Mapping[str, str],
    repo: Repo,
    first: Delivery,
    digest: str,
) -> Outcome:
    when = first.received_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    reason = f"this body was already accepted as delivery {first.id} at {when} (replay?)"
    row = _record(
        session, forge, headers, repo, verdict=DeliveryVerdict.DUPLICATE, reason=reason,
        status_code=200, build_id=first.build_id, body_digest=digest,
    )  # fmt: skip
    ids = [first.build_id] if first.build_id else []
    return Outcome(200, DeliveryVerdict.DUPLICATE, reason, ids, delivery_id=row.id)


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
    except JSONTooDeep:
        raise InvalidRequest("the webhook body is not valid JSON (nested too deeply)") from None
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

    digest = hashlib.sha256(body).hexdigest()
    secret = webhook_secret(session, settings, repo)
    if not secret or not forge.verify(headers, body, secret):
        reason = (
            f"{repo.full_name} has no webhook secret: run `ocelot watch {repo.full_name}`"
            if not secret
            else "the delivery is not signed with this repository's webhook secret"
        )
        row = _record(
            session, forge, headers, repo, verdict=DeliveryVerdict.REJECTED, reason=reason,
            status_code=401, body_digest=digest,
        )  # fmt: skip
        return Outcome(
            401, DeliveryVerdict.REJECTED, reason, delivery_id=row.id, error=Unauthorized(reason)
        )

    key = _dedupe_key(forge, headers, body)
    earlier = session.scalar(select(Delivery).where(Delivery.dedupe_key == key))
    if earlier is None and (replayed := _accepted_body(session, repo, digest)) is not None:
        return _replay(session, forge, headers, repo, replayed, digest)
    claim: Delivery | None = None
    if earlier is None:
        try:
            with session.begin_nested():
                claim = _record(
                    session, forge, headers, repo, dedupe_key=key, verdict=DeliveryVerdict.ACCEPTED,
                    status_code=202, body_digest=digest,
                )  # fmt: skip
        except IntegrityError:  # a concurrent redelivery claimed it a moment ago
            earlier = session.scalar(select(Delivery).where(Delivery.dedupe_key == key))
    if earlier is not None or claim is None:
        reason = f"delivery {forge.delivery_id(headers) or key} was received already"
        row = _record(
            session, forge, headers, repo, verdict=DeliveryVerdict.DUPLICATE, reason=reason,
            status_code=200, build_id=earlier.build_id if earlier else None, body_digest=digest,
        )  # fmt: skip
        ids = [earlier.build_id] if earlier and earlier.build_id else []
        return Outcome(200, DeliveryVerdict.DUPLICATE, reason, ids, delivery_id=row.id)

    outcome = _build(session, repo, forge.parse(headers, payload))
    claim.verdict, claim.reason = outcome.verdict, outcome.reason
    claim.status_code = outcome.status_code
    claim.build_id = outcome.build_ids[0] if outcome.build_ids else None
    outcome.delivery_id = claim.id
    return outcome


def _build(session: Session, repo: Repo, parsed: list[Event] | Ignored) -> Outcome:
    if isinstance(parsed, Ignored):
        return Outcome(200, DeliveryVerdict.IGNORED, parsed.reason)
    ids: list[int] = []
    held: list[int] = []
    skipped: list[str] = []
    for event in parsed:
        why_not = _not_built(repo, event)
        if why_not is not None:
            skipped.append(why_not)
            continue
        build = create_build_for_event(session, repo, event, _trust(repo, event))
        ids.append(build.id)
        if build.status == BuildStatus.PENDING_APPROVAL:
            held.append(build.id)
    if not ids:
        return Outcome(200, DeliveryVerdict.SKIPPED, "not built: " + "; ".join(skipped))
    queued = [i for i in ids if i not in held]
    parts = [f"queued {_builds(queued)}"] if queued else []
    if held:
        parts.append(f"{_builds(held)} waiting for approval (untrusted pull request)")
    reason = "; ".join(parts) + ("; skipped " + "; ".join(skipped) if skipped else "")
    return Outcome(202, DeliveryVerdict.ACCEPTED, reason, ids, held=held)


def _builds(ids: list[int]) -> str:
    return f"build{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}"


def _not_built(repo: Repo, event: Event) -> str | None:
    """Why ``event`` makes no build (None: it makes one)."""
    what = event.tag or event.branch or event.sha[:7]
    if not event.sha:
        return f"{what}: the payload names no commit"
    if Changeset(branch=event.branch or "", messages=event.messages).skip_requested:
        return f"{what}: [skip ci] in a commit message"
    trust = _trust(repo, event)
    if not trust.trusted and repo.fork_prs == "ignore":
        return f"{trust.reason}; {repo.full_name} ignores untrusted pull requests (fork_prs=ignore)"
    return None


def _trust(repo: Repo, event: Event) -> Trust:
    if event.kind != "pull_request":
        return TRUSTED
    return trust_of_pull_request(repo, event.pr_id, event.fork, event.source_repo)


def create_build_for_event(
    session: Session, repo: Repo, event: Event, trust: Trust = TRUSTED
) -> Any:
    """A build for ``event`` recording what (push, pull_request, tag), who, and whether its
    code is trusted; an untrusted one waits for approval unless the repo says ``run``."""
    changeset = event.changeset()
    if event.source_branch:
        changeset["source_branch"] = event.source_branch
    if event.source_repo:
        changeset["source_repo"] = event.source_repo
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
        trusted=trust.trusted,
        trust_reason=trust.reason,
        hold=not trust.trusted and repo.fork_prs != "run",
    )
