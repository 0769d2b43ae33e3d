"""API tokens under ``/api/v1/tokens`` (admin only, see web/auth.py): list, mint, revoke.

* ``GET /tokens`` → ``{"tokens": [Token]}`` (revoked and expired ones too; never a digest)
* ``POST /tokens`` ``{"name", "role": "read|build|admin", "expires"?: "30d|2026-12-31|ISO"}``
  → 201 Token with ``"token"``, the plaintext, shown this once
* ``DELETE /tokens/<ref>`` (an id, a name or a prefix ``oct_Ab12``) → ``{"tokens": [Token]}``,
  the tokens revoked; 404 if none matches, 409 if it was revoked already
"""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from ocelot.db import session_scope
from ocelot.errors import InvalidRequest
from ocelot.services import tokens as token_service
from web.api.blueprint import api
from web.api.util import json_body
from web.extensions import services


@api.get("/tokens")
def list_tokens() -> ResponseReturnValue:
    """List API tokens (name, prefix, role, state and times; never the token)."""
    with session_scope(services().engine) as session:
        rows = token_service.list_tokens(session)
        return jsonify({"tokens": [token_service.token_dict(r) for r in rows]})


@api.post("/tokens")
def create_token() -> ResponseReturnValue:
    """Mint an API token with a role and an optional expiry; the token is shown once."""
    body = json_body()
    name, role, expires = body.get("name"), body.get("role"), body.get("expires")
    if not isinstance(name, str):
        raise InvalidRequest("name is required (a string)")
    if not isinstance(role, str):
        roles = ", ".join(token_service.ROLES)
        raise InvalidRequest(f"role is required: one of {roles}")
    if expires is not None and not isinstance(expires, str):
        raise InvalidRequest("expires must be a string: 30d, 12h, 2w, 2026-12-31 or ISO 8601")
    expires_at = token_service.parse_expiry(expires)
    with session_scope(services().engine) as session:
        row, token = token_service.issue_token(session, name, role, expires_at)
        return jsonify({**token_service.token_dict(row), "token": token}), 201


@api.delete("/tokens/<ref>")
def revoke_token(ref: str) -> ResponseReturnValue:
    """Revoke an API token by id, name or prefix (it is kept, marked revoked, and refused)."""
    with session_scope(services().engine) as session:
        rows = token_service.revoke_token(session, ref)
        return jsonify({"tokens": [token_service.token_dict(row) for row in rows]})
