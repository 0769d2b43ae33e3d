"""Builds: list, create, get, kill, rebuild, approve, decline. Tasks are enqueued after the
commit."""

from __future__ import annotations

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from ocelot.db import session_scope
from ocelot.errors import InvalidRequest
from ocelot.services import builds as build_service
from ocelot.services import notifications as notification_service
from ocelot.services import trust as trust_service
from web.api.blueprint import api
from web.api.util import bool_value, int_arg, json_body
from web.extensions import services


def _optional_str(body: dict[str, object], key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{key} must be a string")
    return value


@api.get("/repos/<acct>/<name>/builds")
def repo_builds(acct: str, name: str) -> ResponseReturnValue:
    with session_scope(services().engine) as session:
        rows = build_service.list_builds(
            session,
            f"{acct}/{name}",
            hash_prefix=request.args.get("hash"),
            branch=request.args.get("branch"),
            limit=int_arg("limit", 20),
            pipeline=request.args.get("pipeline") or None,
        )
        return jsonify({"builds": [b.to_dict() for b in rows]})


@api.post("/repos/<acct>/<name>/builds")
def create_build(acct: str, name: str) -> ResponseReturnValue:
    body = json_body()
    with session_scope(services().engine) as session:
        build = build_service.create_build(
            session,
            f"{acct}/{name}",
            branch=_optional_str(body, "branch"),
            hash=_optional_str(body, "hash"),
            force=bool_value(body.get("force", False)),
            trigger="cli" if request.headers.get("X-Ocelot-Client") == "cli" else "api",
            triggered_by=g.token_name,
            pipeline=_optional_str(body, "pipeline"),
        )
        data, build_id = build.to_dict(), build.id
    services().enqueue(build_id)
    return jsonify(data), 201


@api.get("/builds")
def all_builds() -> ResponseReturnValue:
    with session_scope(services().engine) as session:
        rows = build_service.list_builds(
            session,
            request.args.get("repo") or None,
            hash_prefix=request.args.get("hash"),
            branch=request.args.get("branch"),
            limit=int_arg("limit", 20),
            pipeline=request.args.get("pipeline") or None,
        )
        return jsonify({"builds": [b.to_dict() for b in rows]})


@api.get("/builds/<int:build_id>")
def get_build(build_id: int) -> ResponseReturnValue:
    with session_scope(services().engine) as session:
        data = build_service.get_build(session, build_id).to_dict()
        data["notifications"] = notification_service.for_build(session, build_id)
        return jsonify(data)


@api.post("/builds/<int:build_id>/kill")
def kill_build(build_id: int) -> ResponseReturnValue:
    with session_scope(services().engine) as session:
        build = build_service.kill_build(session, build_id, g.token_name)
        data = build.to_dict()
    return jsonify(data)


@api.post("/builds/<int:build_id>/rebuild")
def rebuild(build_id: int) -> ResponseReturnValue:
    with session_scope(services().engine) as session:
        build = build_service.rebuild(session, build_id, g.token_name)
        data, new_id = build.to_dict(), build.id
    services().enqueue(new_id)
    return jsonify(data), 201


@api.post("/builds/<int:build_id>/approve")
def approve(build_id: int) -> ResponseReturnValue:
    """Let an untrusted build waiting for approval run (still without credentials)."""
    with session_scope(services().engine) as session:
        build = trust_service.approve(session, build_id, g.token_name)
        data = build.to_dict()
    services().enqueue(build_id)
    return jsonify(data)


@api.post("/builds/<int:build_id>/decline")
def decline(build_id: int) -> ResponseReturnValue:
    """End an untrusted build waiting for approval without running it."""
    with session_scope(services().engine) as session:
        build = trust_service.decline(session, build_id, g.token_name)
        data = build.to_dict()
    services().announce_end(build_id, data["status"])
    return jsonify(data)
