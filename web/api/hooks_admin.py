"""Webhooks of a repository: deliveries received (and why they did or did not build),
watch (set the secret, install the hook) and unwatch."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ocelot.db import session_scope
from ocelot.errors import InvalidRequest
from ocelot.models import Delivery
from ocelot.services import watch as watch_service
from ocelot.services.repos import get_repo
from web.api.blueprint import api
from web.api.util import bool_value, int_arg, json_body
from web.extensions import services


@api.get("/repos/<acct>/<name>/deliveries")
def list_deliveries(acct: str, name: str) -> ResponseReturnValue:
    """Webhook deliveries of a repository, newest first, with verdict, reason and build."""
    limit = max(1, min(int_arg("limit", 50), 500))
    with session_scope(services().engine) as session:
        repo = get_repo(session, f"{acct}/{name}")
        rows = session.scalars(
            select(Delivery)
            .where(Delivery.repo_id == repo.id)
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
        return jsonify({"deliveries": [d.to_dict() for d in rows]})


@api.post("/repos/<acct>/<name>/watch")
def watch(acct: str, name: str) -> ResponseReturnValue:
    """Set the webhook secret and install the webhook (``install: false``: return the secret)."""
    body = json_body()
    secret = body.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise InvalidRequest("secret must be a string")
    svc = services()
    with session_scope(svc.engine) as session:
        result = watch_service.watch(
            session,
            svc.settings,
            f"{acct}/{name}",
            install=bool_value(body.get("install", True)),
            secret=secret,
        )
    return jsonify(result), 200


@api.delete("/repos/<acct>/<name>/watch")
def unwatch(acct: str, name: str) -> ResponseReturnValue:
    """Remove the installed webhook and forget the webhook secret."""
    svc = services()
    with session_scope(svc.engine) as session:
        result = watch_service.unwatch(session, svc.settings, f"{acct}/{name}")
    return jsonify(result), 200
