"""Repos: list, add, get, change settings, remove."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask.typing import ResponseReturnValue

from ocelot.db import session_scope
from ocelot.errors import InvalidRequest
from ocelot.services import repos as repo_service
from ocelot.services import trust as trust_service
from web.api.blueprint import api
from web.api.util import json_body
from web.extensions import services


@api.get("/repos")
def list_repos() -> ResponseReturnValue:
    """Tracked repositories by name, each with ``last_build`` (None before its first)."""
    with session_scope(services().engine) as session:
        repos = repo_service.repo_list_json(session, request.args.get("group"))
    return Response(f'{{"repos": {repos}}}\n', mimetype="application/json")


@api.post("/repos")
def add_repo() -> ResponseReturnValue:
    body = json_body()
    for key in ("full_name", "url"):
        if not isinstance(body.get(key), str):
            raise InvalidRequest(f"{key} is required (a string)")
    with session_scope(services().engine) as session:
        repo = repo_service.add_repo(
            session,
            body["full_name"],
            body["url"],
            vcs_type=body.get("vcs_type") or "git",
            group=body.get("group"),
        )
        return jsonify(repo.to_dict()), 201


@api.get("/repos/<acct>/<name>")
def get_repo(acct: str, name: str) -> ResponseReturnValue:
    with session_scope(services().engine) as session:
        return jsonify(repo_service.get_repo(session, f"{acct}/{name}").to_dict())


@api.patch("/repos/<acct>/<name>")
def update_repo(acct: str, name: str) -> ResponseReturnValue:
    """Change a repository's settings: ``fork_prs`` (approve|run|ignore), ``untrusted_prs``
    (forks|all), ``group``."""
    body = json_body()
    known = {"fork_prs", "untrusted_prs", "group"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidRequest(
            f"unknown setting(s) {', '.join(unknown)}: use {', '.join(sorted(known))}"
        )
    for key in known & set(body):
        if body[key] is not None and not isinstance(body[key], str):
            raise InvalidRequest(f"{key} must be a string")
    with session_scope(services().engine) as session:
        repo = repo_service.get_repo(session, f"{acct}/{name}")
        trust_service.set_repo_policy(
            repo, fork_prs=body.get("fork_prs"), untrusted_prs=body.get("untrusted_prs")
        )
        if "group" in body:
            repo.group = body["group"] or None
        return jsonify(repo.to_dict())


@api.delete("/repos/<acct>/<name>")
def remove_repo(acct: str, name: str) -> ResponseReturnValue:
    with session_scope(services().engine) as session:
        repo_service.remove_repo(session, f"{acct}/{name}")
    return "", 204
