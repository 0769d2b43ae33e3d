"""The REST API under ``/api/v1`` (see docs/rest-api.md). Every route needs a bearer token,
and a token whose role is too small for the route gets 403 (the table is in web/auth.py)."""

from __future__ import annotations

from flask import Blueprint, g, request

from ocelot.db import session_scope
from ocelot.services.tokens import authenticate
from web.app import services
from web.auth import bearer_token, require_role

api = Blueprint("api", __name__, url_prefix="/api/v1")


@api.before_request
def _require_token() -> None:
    with session_scope(services().engine) as session:
        row = authenticate(session, bearer_token())
        g.token_name, g.token_id, g.token_role = row.name, row.id, row.role
    # Outside the transaction, so last_used_at is recorded even for a refused request.
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    require_role(g.token_role, request.method, rule)


from web.api import (  # noqa: E402,F401 - routes register on import
    builds,
    creds,
    discovery,
    hooks_admin,
    logs,
    meta,
    polls,
    repos,
    tokens,
)
