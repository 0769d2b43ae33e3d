"""Fixture bodies and the headers a forge would send with them, signed over the exact bytes."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from ocelot.forges.base import sign
from ocelot.forges.gitlab import standard_signature

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks"

# fixture → the event header value the forge sends with it (see fixtures/webhooks/README.md)
EVENTS = {
    "github/push.json": "push",
    "github/push-tag.json": "push",
    "github/create-tag.json": "create",
    "github/pull_request-opened.json": "pull_request",
    "github/pull_request-synchronize.json": "pull_request",
    "github/pull_request-closed.json": "pull_request",
    "github/ping.json": "ping",
    "gitlab/push.json": "Push Hook",
    "gitlab/tag_push.json": "Tag Push Hook",
    "gitlab/merge_request-open.json": "Merge Request Hook",
    "gitlab/merge_request-update.json": "Merge Request Hook",
    "bitbucket/repo-push.json": "repo:push",
    "bitbucket/repo-push-tag.json": "repo:push",
    "bitbucket/pullrequest-created.json": "pullrequest:created",
    "bitbucket/pullrequest-updated.json": "pullrequest:updated",
}


def body(name: str) -> bytes:
    """The exact bytes of a fixture (never re-serialised: signatures cover these bytes)."""
    return (FIXTURES / name).read_bytes()


def event_headers(fixture: str) -> dict[str, str]:
    """Unsigned headers for ``fixture``: its event and a fresh delivery id."""
    forge, event, delivery = fixture.split("/")[0], EVENTS[fixture], str(uuid.uuid4())
    if forge == "github":
        return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    if forge == "gitlab":
        return {"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": delivery}
    return {"X-Event-Key": event, "X-Request-UUID": delivery, "X-Hook-UUID": "{hook}"}


def signed_headers(fixture: str, secret: str, data: bytes | None = None) -> dict[str, str]:
    """Headers with the forge's authentication of ``data`` (default: the fixture's bytes)."""
    data = body(fixture) if data is None else data
    headers = event_headers(fixture)
    forge = fixture.split("/")[0]
    if forge == "github":
        headers["X-Hub-Signature-256"] = sign(secret, data)
    elif forge == "bitbucket":
        headers["X-Hub-Signature"] = sign(secret, data)
    else:
        headers["X-Gitlab-Token"] = secret
    return headers


def gitlab_standard_headers(fixture: str, secret: str, when: float | None = None) -> dict[str, str]:
    """GitLab's newer Standard-Webhooks signature, without ``X-Gitlab-Token``."""
    headers = event_headers(fixture)
    msg_id, stamp = str(uuid.uuid4()), str(int(when or time.time()))
    headers.update(
        {
            "webhook-id": msg_id,
            "webhook-timestamp": stamp,
            "webhook-signature": standard_signature(secret, msg_id, stamp, body(fixture)),
        }
    )
    return headers
