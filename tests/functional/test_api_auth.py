"""Every /api/v1 route refuses a request without a valid bearer token."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.models import ApiToken
from ocelot.services.tokens import digest


def api_routes(app: Flask) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<int:\w+>", "1", rule.rule).replace("<acct>", "a").replace("<name>", "b")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


def test_the_api_has_the_routes_we_check(app: Flask) -> None:
    routes = api_routes(app)
    assert ("GET", "/api/v1/repos") in routes
    assert ("POST", "/api/v1/builds/1/kill") in routes
    assert len(routes) >= 12


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "oct_x"])
def test_every_route_needs_a_valid_token(
    app: Flask, client: FlaskClient, token: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    for method, path in api_routes(app):
        resp = client.open(path, method=method, headers=headers, json={})
        assert resp.status_code == 401, (method, path, resp.status_code)
        assert resp.get_json()["error"]["code"] == "unauthorized"


def test_a_valid_token_is_accepted_and_stored_hashed(
    client: FlaskClient, engine: Engine, token: str, auth: dict[str, str]
) -> None:
    resp = client.get("/api/v1/whoami", headers=auth)
    assert resp.status_code == 200
    assert resp.get_json()["token"]["name"] == "tester"
    assert resp.get_json()["token"]["role"] == "admin"
    with session_scope(engine) as session:
        row = session.scalar(select(ApiToken))
        assert row is not None
        assert row.token_hash == digest(token) and token not in row.token_hash
        assert row.last_used_at is not None


def test_a_revoked_token_is_refused(
    client: FlaskClient, engine: Engine, auth: dict[str, str]
) -> None:
    with session_scope(engine) as session:
        for row in session.scalars(select(ApiToken)):
            row.revoked = True
    assert client.get("/api/v1/whoami", headers=auth).status_code == 401


def test_health_needs_no_token(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_names_the_dependency_that_is_down(settings) -> None:
    from tests.servers import free_port
    from web import create_app

    down = settings.with_(broker_url=f"redis://127.0.0.1:{free_port()}/0")
    resp = create_app(down).test_client().get("/readyz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unavailable" and body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "down" and "details" not in body  # no driver text
