"""Subscriptions (upstream → downstream builds): list (role ``read``), subscribe and
unsubscribe (role ``admin``, like polls and webhooks: a standing rule that starts builds;
``web/auth.py`` gives every write not listed there to ``admin``)."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from ocelot.db import session_scope
from ocelot.errors import InvalidRequest
from ocelot.services import subscriptions as subscription_service
from web.api.blueprint import api
from web.api.util import json_body
from web.extensions import services


@api.get("/subscriptions")
def list_subscriptions() -> ResponseReturnValue:
    """Every subscription; ``?repo=ACCT/REPO`` (either side), ``?downstream=``,
    ``?upstream=`` and ``?upstream_branch=`` filter."""
    args = request.args
    with session_scope(services().engine) as session:
        rows = subscription_service.list_subscriptions(
            session,
            repo=args.get("repo") or None,
            downstream=args.get("downstream") or None,
            upstream=args.get("upstream") or None,
            upstream_branch=args.get("upstream_branch") or None,
        )
        return jsonify({"subscriptions": [row.to_dict() for row in rows]})


@api.post("/subscriptions")
def subscribe() -> ResponseReturnValue:
    """Build ``downstream`` when ``upstream``'s branch passes: ``{"downstream": "acme/app",
    "upstream": "acme/lib", "upstream_branch"?: "master", "downstream_branch"?: "master"}``."""
    body = json_body()
    downstream, upstream = _repo(body, "downstream"), _repo(body, "upstream")
    with session_scope(services().engine) as session:
        row = subscription_service.subscribe(
            session,
            downstream,
            upstream,
            upstream_branch=body.get("upstream_branch"),
            downstream_branch=body.get("downstream_branch"),
            created_by=g.token_name,
        )
        return jsonify(row.to_dict()), 201


def _repo(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{key} is required: a tracked repository, ACCT/REPO")
    return value


@api.delete("/subscriptions/<int:subscription_id>")
def unsubscribe(subscription_id: int) -> ResponseReturnValue:
    """Remove a subscription."""
    with session_scope(services().engine) as session:
        subscription_service.unsubscribe(session, subscription_id)
    return "", 204
