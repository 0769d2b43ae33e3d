"""The ``api`` blueprint (/api/v1) and its token check, apart from the package so that the
route modules can import it without importing each other (``web/api/__init__.py`` imports
them all to register their routes)."""

from __future__ import annotations

from flask import Blueprint, g, request

from ocelot.db import session_scope
from ocelot.services.tokens import authenticate
from web.auth import bearer_token, require_role
from web.extensions import services

api = Blueprint("api", __name__, url_prefix="/api/v1")


@api.before_request
def _require_token() -> None:
    with session_scope(services().engine) as session:
        row = authenticate(session, bearer_token())
        g.token_name, g.token_id, g.token_role = row.name, row.id, row.role
    # Outside the transaction, so last_used_at is recorded even for a refused request.
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    require_role(g.token_role, request.method, rule)
