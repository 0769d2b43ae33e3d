"""Polls: list, create or replace, delete (one poll per repository)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from ocelot.db import session_scope
from ocelot.errors import InvalidRequest
from ocelot.services import polls as poll_service
from web.api.blueprint import api
from web.api.util import json_body
from web.extensions import services


@api.get("/polls")
def list_polls() -> ResponseReturnValue:
    """Every poll: repository, cron, branches, last polled hashes."""
    with session_scope(services().engine) as session:
        return jsonify({"polls": [p.to_dict() for p in poll_service.list_polls(session)]})


@api.put("/repos/<acct>/<name>/poll")
def set_poll(acct: str, name: str) -> ResponseReturnValue:
    """Poll a repository: ``{"cron": "*/5 * * * *", "branches": ["main"] | "a,b" | "ALL"}``."""
    body = json_body()
    cron, branches = body.get("cron"), body.get("branches")
    if not isinstance(cron, str):
        raise InvalidRequest("cron is required (a string such as '*/5 * * * *')")
    if not isinstance(branches, str | list):
        raise InvalidRequest("branches is required: a list of names, 'a,b' or 'ALL'")
    with session_scope(services().engine) as session:
        poll = poll_service.set_poll(session, f"{acct}/{name}", cron, branches)
        return jsonify(poll.to_dict()), 200


@api.get("/repos/<acct>/<name>/poll")
def get_poll(acct: str, name: str) -> ResponseReturnValue:
    """The poll of a repository."""
    with session_scope(services().engine) as session:
        return jsonify(poll_service.get_poll(session, f"{acct}/{name}").to_dict())


@api.delete("/repos/<acct>/<name>/poll")
def delete_poll(acct: str, name: str) -> ResponseReturnValue:
    """Stop polling a repository."""
    with session_scope(services().engine) as session:
        poll_service.delete_poll(session, f"{acct}/{name}")
    return "", 204
