"""``POST /hooks/<forge>``: webhook deliveries from GitHub, GitLab and Bitbucket Cloud.

Authenticated by the repository's webhook secret (signature or token), not by an API token.
The raw body is read once, bounded by ``OCELOT_MAX_BODY_BYTES`` (413 beyond it), because the
signature covers the exact bytes. The use-case is :func:`ocelot.services.hooks.receive`;
builds are enqueued only after its transaction committed. Answers: 202 accepted (a build was
queued), 200 with a reason (ping, ignored event, ``[skip ci]``, duplicate), 400 malformed,
401 bad or missing signature, 404 unknown forge or untracked repository, 413 too large.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ocelot import metrics
from ocelot.db import session_scope
from ocelot.errors import NotFound, OcelotError, PayloadTooLarge
from ocelot.forges import WEBHOOK_FORGES, get_forge
from ocelot.services.hooks import receive
from web.extensions import services

log = logging.getLogger("ocelot.hooks")

hooks = Blueprint("hooks", __name__, url_prefix="/hooks")
_READ_SIZE = 64 * 1024
_DRAIN_BYTES = 1024 * 1024


def _raw_body(limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes (PayloadTooLarge beyond).

    One ``read`` is not enough: a chunked body (no Content-Length) arrives one chunk per read,
    so reading once gave a truncated body ("not valid JSON") instead of a 413. When the server
    terminates the input itself (``wsgi.input_terminated``: werkzeug and gunicorn for chunked
    bodies) its stream is read directly with our own bound, since werkzeug's wrapper cannot
    tell a body of exactly ``limit`` bytes from a longer one. A body found too large while
    reading is drained up to :data:`_DRAIN_BYTES` more, so an ordinary client reads its 413
    instead of a connection reset (closing a socket with unread input resets it).
    """
    too_large = PayloadTooLarge(
        f"webhook body is larger than {limit} bytes (OCELOT_MAX_BODY_BYTES)"
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    environ = request.environ
    stream = environ["wsgi.input"] if environ.get("wsgi.input_terminated") else request.stream
    parts: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            part = stream.read(min(_READ_SIZE, limit + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
    except RequestEntityTooLarge:  # werkzeug's own bound (MAX_CONTENT_LENGTH)
        raise too_large from None
    if size > limit:
        _drain(stream)
        raise too_large
    return b"".join(parts)


def _drain(stream: Any) -> None:
    """Read and drop what is left of the body, at most ``_DRAIN_BYTES``."""
    left = _DRAIN_BYTES
    try:
        while left > 0:
            part = stream.read(min(_READ_SIZE, left))
            if not part:
                return
            left -= len(part)
    except (OSError, ValueError, HTTPException):
        return


@hooks.post("/<forge_name>")
def deliver(forge_name: str) -> ResponseReturnValue:
    """Receive one webhook delivery."""
    if forge_name not in WEBHOOK_FORGES:
        raise NotFound(f"no webhook endpoint for {forge_name!r} (use {', '.join(WEBHOOK_FORGES)})")
    forge = get_forge(forge_name)
    svc = services()
    body = _raw_body(svc.settings.max_body_bytes)
    headers = {k: v for k, v in request.headers.items()}
    try:
        with session_scope(svc.engine) as session:
            outcome = receive(session, svc.settings, forge, headers, body)
    except OcelotError as exc:
        log.info("%s delivery refused: %s", forge_name, exc.message)
        raise
    metrics.webhook_delivery(forge_name, outcome.verdict)
    if outcome.error is not None:
        log.warning("%s delivery rejected: %s", forge_name, outcome.reason)
        raise outcome.error
    for build_id in outcome.to_enqueue:
        svc.enqueue(build_id)
    for build_id in outcome.held:  # the pull request shows "waiting for approval"
        svc.report_to_forge(build_id)
    return jsonify(outcome.body()), outcome.status_code
