"""The REST API under ``/api/v1`` (see docs/rest-api.md). Every route needs a bearer token."""

from __future__ import annotations

from flask import Blueprint, g, request

from ocelot.db import session_scope
from ocelot.services.tokens import authenticate
from web.app import services

api = Blueprint("api", __name__, url_prefix="/api/v1")


@api.before_request
def _require_token() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    with session_scope(services().engine) as session:
        row = authenticate(session, token.strip() if scheme.lower() == "bearer" else None)
        g.token_name, g.token_id = row.name, row.id


from web.api import builds, creds, discovery, hooks_admin, logs, meta, polls, repos  # noqa: E402,F401 - routes register on import
