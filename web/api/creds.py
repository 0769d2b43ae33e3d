"""Credentials under ``/api/v1/creds``: list, add, get, delete. Secrets are write-only.

No response ever carries a secret value: credentials are shown as their metadata with each
secret field as ``*****``, plus ``on_file`` (whether the backend holds the value).

* ``GET /creds?acct=A&type=T`` and ``GET /creds/<type>?acct=A`` → ``{"credentials": [...]}``
* ``POST /creds/<type>`` ``{"acct", "identifier", <fields and secrets>, "overwrite": false,
  "events": [...], "branches": [...]}`` (the scope, env/ssh/repo only; absent = unlimited)
  → 201 (created) or 200 (replaced); 409 when the identifier exists and ``overwrite`` is not
  true
* ``GET /creds/<type>/<acct>/<identifier>`` → one credential (404 if none)
* ``DELETE /creds/<type>/<acct>/<identifier>`` → 204
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ocelot.db import session_scope
from ocelot.errors import InvalidRequest, NotFound
from ocelot.models import Credential
from ocelot.services import credentials as cred_service
from web.api.blueprint import api
from web.api.util import bool_value, json_body
from web.extensions import services


def _shown(session: Session, row: Credential) -> dict[str, Any]:
    body = row.to_dict()
    body["on_file"] = cred_service.on_file(session, services().settings, row)
    return body


def _list(ctype: str | None) -> ResponseReturnValue:
    with session_scope(services().engine) as session:
        rows = cred_service.list_credentials(session, request.args.get("acct") or None, ctype)
        return jsonify({"credentials": [_shown(session, row) for row in rows]})


@api.get("/creds")
def list_creds() -> ResponseReturnValue:
    """List credentials (metadata only; secrets read *****)."""
    return _list(request.args.get("type") or None)


@api.get("/creds/<ctype>")
def list_creds_of_type(ctype: str) -> ResponseReturnValue:
    """List credentials of one type (metadata only)."""
    return _list(ctype)


@api.post("/creds/<ctype>")
def add_cred(ctype: str) -> ResponseReturnValue:
    """Add a credential (409 if the identifier exists, unless overwrite is true)."""
    body = json_body()
    acct, identifier = body.pop("acct", None), body.pop("identifier", None)
    overwrite = bool_value(body.pop("overwrite", False))
    events, branches = body.pop("events", None), body.pop("branches", None)
    for name, value in (("acct", acct), ("identifier", identifier)):
        if not isinstance(value, str) or not value:
            raise InvalidRequest(f"{name} is required (a string)")
    assert isinstance(acct, str) and isinstance(identifier, str)
    with session_scope(services().engine) as session:
        try:
            cred_service.get_credential(session, acct, ctype, identifier)
            existed = True
        except NotFound:
            existed = False
        row = cred_service.add_credential(
            session,
            services().settings,
            acct,
            ctype,
            identifier,
            body,
            overwrite=overwrite,
            events=events,
            branches=branches,
        )
        return jsonify(_shown(session, row)), 200 if existed else 201


@api.get("/creds/<ctype>/<acct>/<identifier>")
def get_cred(ctype: str, acct: str, identifier: str) -> ResponseReturnValue:
    """Get one credential's metadata."""
    cred_service.credential_type(ctype)
    with session_scope(services().engine) as session:
        row = cred_service.get_credential(session, acct, ctype, identifier)
        return jsonify(_shown(session, row))


@api.delete("/creds/<ctype>/<acct>/<identifier>")
def delete_cred(ctype: str, acct: str, identifier: str) -> ResponseReturnValue:
    """Delete a credential and its secret."""
    cred_service.credential_type(ctype)
    with session_scope(services().engine) as session:
        cred_service.delete_credential(session, services().settings, acct, ctype, identifier)
    return "", 204
