"""Notification use-cases: which channels a finished build owes a notice, and delivering one.

Delivery of ``(build, channel)`` is idempotent and every attempt is recorded
(:class:`~ocelot.models.notification.Notification`):

1. *claim* (one transaction): nothing is done if the channel is not due (policy), or already
   ``sent`` or finally ``failed``, or another delivery is ``sending`` right now; otherwise an
   attempt row ``sending`` is inserted — the unique ``(build, channel, attempt)`` makes two
   racing deliveries collide, and the loser sends nothing;
2. *send*, outside any transaction (a slow SMTP server never holds a database lock);
3. *settle* the row: ``sent``, ``retrying`` (transient error, the task will try again) or
   ``failed``. A transient error is raised again after it is recorded, for Celery to retry.

A ``sending`` row older than :data:`STALE_AFTER` belongs to a delivery that died mid-way (worker
lost): it is settled ``retrying`` and the notice is sent again — at-least-once, because Slack
and SMTP cannot say whether the lost attempt arrived. Nothing here changes a build.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ocelot import metrics
from ocelot.db import session_scope
from ocelot.errors import NotFound, OcelotError
from ocelot.logstore import texts
from ocelot.models import Build, LogChunk, utcnow
from ocelot.models.notification import Notification
from ocelot.notifiers import policy
from ocelot.notifiers.base import Notifier, NotifierError, TransientNotifierError
from ocelot.notifiers.email import make_email
from ocelot.notifiers.message import Message, compose, tail
from ocelot.notifiers.slack import make_slack
from ocelot.pipeline import load_config
from ocelot.secrets.redaction import redactor_for, scrub
from ocelot.services.credentials import account_secret_values
from ocelot.settings import Settings
from ocelot.status import BuildStatus, NotificationOutcome, StageStatus

log = logging.getLogger(__name__)

CHANNELS = ("slack", "email")
STALE_AFTER = timedelta(minutes=5)
# (session, settings, acct, identifier) -> the decrypted notify credential
CredentialLookup = Callable[[Session, Settings, str, str], Mapping[str, Any]]


@dataclass(frozen=True)
class Delivery:
    """What one call of :func:`deliver` did: ``sent``, ``retrying``, ``failed`` or a
    ``skipped: <why>``; ``attempt`` is the recorded attempt number (None when skipped)."""

    outcome: str
    attempt: int | None = None
    error: str | None = None


def notify_config(build: Build) -> dict[str, Any]:
    """The normalised ``notify`` block of the build's ocelot.yml (empty when unreadable).
    An untrusted build's own file is never obeyed here (it could make the server mail
    anyone): its notices follow the destination branch's ocelot.yml, read by ``route``."""
    text = build.config_text if build.trusted else build.trusted_config_text
    if not text:
        return {}
    try:
        return dict(load_config(text).notify)
    except Exception:  # noqa: BLE001 - an invalid file notifies nobody
        return {}


def build_events(session: Session, build: Build) -> tuple[str, ...]:
    return tuple(
        e
        for e in policy.EVENTS
        if e in policy.events(build.status, policy.previous_result(session, build))
    )


def due_channels(session: Session, build_id: int) -> list[str]:
    """The channels whose ``on`` list matches this finished build's events."""
    build = session.get(Build, build_id)
    if build is None or not build.finished:
        return []
    notify = notify_config(build)
    if not notify:
        return []
    found = build_events(session, build)
    return [c for c in CHANNELS if c in notify and policy.wanted(notify[c].get("on") or [], found)]


def lookup_credential(
    session: Session, settings: Settings, acct: str, identifier: str
) -> Mapping[str, Any]:
    """The notify credential ``identifier`` of ``acct`` from the credentials store."""
    try:
        from ocelot.services.credentials import get_secret
    except ImportError:
        raise NotifierError("the credentials store is not available on this server") from None
    try:
        return dict(get_secret(session, settings, acct, "notify", identifier))
    except NotFound:
        raise NotifierError(f"{acct} has no notify credential named {identifier!r}") from None
    except OcelotError as exc:
        raise NotifierError(
            f"could not read notify credential {identifier!r}: {exc.message}"
        ) from None


def make_notifier(
    session: Session,
    settings: Settings,
    build: Build,
    channel: str,
    lookup: CredentialLookup | None = None,
) -> Notifier:
    config = notify_config(build).get(channel) or {}
    if channel == "email":
        return make_email(config, settings)
    if channel != "slack":
        raise NotifierError(f"unknown notification channel {channel!r}")
    identifier = config.get("identifier")
    if identifier:
        secret = (lookup or lookup_credential)(session, settings, build.repo.acct, identifier)
    elif settings.slack_webhook_url:
        secret = {"webhook_url": settings.slack_webhook_url}
    else:
        raise NotifierError(
            "notify.slack names no identifier and the server has no OCELOT_SLACK_WEBHOOK_URL"
        )
    return make_slack(config, secret, settings.slack_api_url)


def failing_log(session: Session, build: Build) -> tuple[str | None, str]:
    """Name and last log lines of the build's first failed stage (or of the build's own
    log for a build that failed before any stage ran)."""
    if build.status not in (BuildStatus.FAILED, BuildStatus.FAILED_PRESTART):
        return None, ""
    failed = next((s for s in build.current_stages() if s.status == StageStatus.FAILED), None)
    name = failed.name if failed else None
    query = select(LogChunk.text, LogChunk.file_offset, LogChunk.size).where(
        LogChunk.build_id == build.id, LogChunk.attempt == build.attempt
    )
    query = query.where(LogChunk.stage == name) if name else query
    # the tail is all we need: read the newest chunks only
    rows = session.execute(query.order_by(LogChunk.seq.desc()).limit(50)).all()
    found = [(text, offset, size) for text, offset, size in rows]
    chunks = texts(session.get_bind(), build.id, found)  # type: ignore[arg-type]
    return name, tail("".join(reversed(chunks)))


def compose_for(session: Session, settings: Settings, build: Build) -> Message:
    stage, text = failing_log(session, build)
    return compose(
        build,
        public_url=settings.public_url,
        build_events=build_events(session, build),
        log_tail=text,
        failing_stage=stage,
        redact=redactor_for(lambda: account_secret_values(session, settings, build.repo.acct)),
    )


def _claim(
    session: Session,
    settings: Settings,
    build_id: int,
    channel: str,
    lookup: CredentialLookup | None,
) -> tuple[Notification, Notifier, Message] | Delivery:
    if channel not in due_channels(session, build_id):
        return Delivery("skipped: not due")
    rows = list(
        session.scalars(
            select(Notification).where(
                Notification.build_id == build_id, Notification.channel == channel
            )
        )
    )
    if any(r.outcome in (NotificationOutcome.SENT, NotificationOutcome.FAILED) for r in rows):
        return Delivery("skipped: already delivered")
    for row in rows:
        if row.outcome == NotificationOutcome.SENDING:
            if row.created_at > utcnow() - STALE_AFTER:
                return Delivery("skipped: in flight")
            row.outcome, row.finished_at = NotificationOutcome.RETRYING, utcnow()
            row.error = "interrupted (worker lost?)"
    build = session.get(Build, build_id)
    assert build is not None
    attempt = max((r.attempt for r in rows), default=0) + 1
    row = Notification(build_id=build_id, channel=channel, attempt=attempt, created_at=utcnow())
    try:
        notifier = make_notifier(session, settings, build, channel, lookup)
    except Exception as exc:  # noqa: BLE001 - recorded; retrying cannot fix configuration
        error = exc.message if isinstance(exc, NotifierError) else type(exc).__name__
        row.target, row.outcome, row.error = channel, NotificationOutcome.FAILED, error
        row.finished_at = utcnow()
        session.add(row)
        metrics.notification_attempt(channel, NotificationOutcome.FAILED)
        return Delivery(NotificationOutcome.FAILED, attempt, error)
    row.target, row.outcome = notifier.target[:1000], NotificationOutcome.SENDING
    session.add(row)
    session.flush()
    return row, notifier, compose_for(session, settings, build)


def deliver(
    engine: Engine,
    settings: Settings,
    build_id: int,
    channel: str,
    *,
    final: bool = True,
    lookup: CredentialLookup | None = None,
) -> Delivery:
    """Deliver the notice of ``build_id`` on ``channel`` once (see the module docstring).

    ``final``: this is the last try the caller will make, so a transient error is recorded
    ``failed`` instead of ``retrying``. Raises :class:`TransientNotifierError` (after
    recording it) when the caller should retry."""
    try:
        with session_scope(engine) as session:
            claimed = _claim(session, settings, build_id, channel, lookup)
    except IntegrityError:
        return Delivery("skipped: in flight")
    if isinstance(claimed, Delivery):
        return claimed
    row, notifier, message = claimed
    error: NotifierError | None = None
    try:
        notifier.send(message)
        outcome = NotificationOutcome.SENT
    except TransientNotifierError as exc:
        error, outcome = exc, NotificationOutcome.FAILED if final else NotificationOutcome.RETRYING
    except NotifierError as exc:
        error, outcome = exc, NotificationOutcome.FAILED
    except Exception as exc:  # noqa: BLE001 - a transport bug must not leave "sending"
        # only the type: the text of an unexpected error may hold the webhook URL
        error, outcome = (
            NotifierError(f"{type(exc).__name__} in the {channel} transport"),
            NotificationOutcome.FAILED,
        )
    text = scrub(error.message, _secrets(settings))[:2000] if error else None
    with session_scope(engine) as session:
        stored = session.get(Notification, row.id)
        if stored is not None:
            stored.outcome, stored.error, stored.finished_at = outcome, text, utcnow()
    log.info("build %s %s notice, attempt %s: %s", build_id, channel, row.attempt, outcome)
    metrics.notification_attempt(channel, outcome)
    if isinstance(error, TransientNotifierError) and outcome == NotificationOutcome.RETRYING:
        raise TransientNotifierError(text or "transient failure")
    return Delivery(outcome, row.attempt, text)


def _secrets(settings: Settings) -> tuple[str | None, ...]:
    return (settings.smtp_password, settings.slack_webhook_url)


def for_build(session: Session, build_id: int) -> list[dict[str, Any]]:
    """Every recorded attempt of the build's notifications, oldest first."""
    rows = session.scalars(
        select(Notification)
        .where(Notification.build_id == build_id)
        .order_by(Notification.channel, Notification.attempt)
    )
    return [row.to_dict() for row in rows]
