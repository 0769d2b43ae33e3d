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

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ocelot.db import session_scope
from ocelot.errors import NotFound, OcelotError, PayloadTooLarge
from ocelot.forges import WEBHOOK_FORGES, get_forge
from ocelot.services.hooks import receive
from web.app import services

log = logging.getLogger("ocelot.hooks")

hooks = Blueprint("hooks", __name__, url_prefix="/hooks")


def _raw_body(limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"webhook body is larger than {limit} bytes (OCELOT_MAX_BODY_BYTES)")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"webhook body is larger than {limit} bytes (OCELOT_MAX_BODY_BYTES)")
    return body


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
    if outcome.error is not None:
        log.warning("%s delivery rejected: %s", forge_name, outcome.reason)
        raise outcome.error
    for build_id in outcome.build_ids if outcome.status_code == 202 else []:
        svc.enqueue(build_id)
    return jsonify(outcome.body()), outcome.status_code
