"""An outsider's probe of /api/v1 over real HTTP: every route the app serves, found in its URL
map (so a route added later is probed too), with no token, a forged token, a ``read`` token
and a ``build`` token. Nothing may answer 2xx or 5xx where a token or a role is missing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
import requests

from ocelot.db import session_scope
from ocelot.services.tokens import create_token, revoke_token
from tests.stack import Stack
from web.auth import required_role

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
# Plausible values for URL parameters; anything else gets "x" (ints get 1).
PARAMS = {"acct": "acme", "name": "probe", "ctype": "vcs", "identifier": "main"}
TIMEOUT = 15


def fill(rule: str) -> str:
    def value(match: re.Match[str]) -> str:
        converter, _, name = match.group(1).rpartition(":")
        if converter in ("int", "float") or name.endswith("_id") or name == "id":
            return "1"
        return PARAMS.get(name, "x")

    return re.sub(r"<([^>]+)>", value, rule)


def every_api_request(stack: Stack) -> list[tuple[str, str, str]]:
    """(method, rule, path) of every method but HEAD/OPTIONS of every /api/v1 rule."""
    found = []
    for rule in stack.app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((method, rule.rule, fill(rule.rule)))
    return found


def is_secret(rule: str) -> bool:
    return any(rule == p or rule.startswith(p + "/") for p in ("/api/v1/creds", "/api/v1/tokens"))


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> Iterator[dict[str, str]]:
    """A token per role, with names no other test uses; revoked afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {role: f"probe-{role}-{suffix}" for role in ("read", "build", "admin")}
    with session_scope(stack.engine) as session:
        made = {role: create_token(session, name, role=role) for role, name in names.items()}
    yield made
    with session_scope(stack.engine) as session:
        for name in names.values():
            revoke_token(session, name)


def send(stack: Stack, method: str, path: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # A body that would be valid-looking for most writes: the role check must come first.
    body = {"full_name": "acme/probe", "url": "/nowhere", "name": "probe", "role": "admin"}
    return requests.request(
        method, stack.url + path, headers=headers, json=body, timeout=TIMEOUT, stream=True
    )


def test_the_probe_covers_the_api(stack: Stack) -> None:
    pairs = {(m, r) for m, r, _ in every_api_request(stack)}
    assert ("GET", "/api/v1/repos") in pairs and ("POST", "/api/v1/repos") in pairs
    assert ("GET", "/api/v1/creds") in pairs and ("POST", "/api/v1/tokens") in pairs
    assert len(pairs) >= 25


@pytest.mark.parametrize("header", [None, "Bearer oct_forged", "Basic YWRtaW46YWRtaW4=", "oct_"])
def test_no_route_answers_without_a_valid_token(stack: Stack, header: str | None) -> None:
    for method, _, path in every_api_request(stack):
        headers = {"Authorization": header} if header else {}
        resp = requests.request(method, stack.url + path, headers=headers, timeout=TIMEOUT)
        assert resp.status_code == 401, (method, path, resp.status_code)
        assert resp.json()["error"]["code"] == "unauthorized", (method, path)


def test_a_read_token_cannot_write_or_see_credentials(stack: Stack, tokens: dict[str, str]) -> None:
    for method, rule, path in every_api_request(stack):
        resp = send(stack, method, path, tokens["read"])
        with resp:
            status = resp.status_code
            if method in READ_METHODS and not is_secret(rule):
                assert status not in (401, 403), (method, path, status)
                assert status < 500, (method, path, status)
                continue
            assert status == 403, (method, path, status)
            error = resp.json()["error"]
        assert error["code"] == "forbidden", (method, path)
        assert error["required_role"] in ("build", "admin"), (method, path)
        assert error["required_role"] == required_role(method, rule), (method, path)
        assert "(yours is 'read')" in error["message"]
        assert set(error) == {"code", "message", "required_role", "role"}, (method, path)


def test_a_build_token_cannot_administer(stack: Stack, tokens: dict[str, str]) -> None:
    for method, rule, path in every_api_request(stack):
        if required_role(method, rule) != "admin":
            continue
        resp = send(stack, method, path, tokens["build"])
        with resp:
            assert resp.status_code == 403, (method, path, resp.status_code)
            assert resp.json()["error"]["required_role"] == "admin"


def test_an_admin_token_is_never_refused_for_its_role(stack: Stack, tokens: dict[str, str]) -> None:
    for method, _, path in every_api_request(stack):
        if method != "GET":  # writes would change the shared stack
            continue
        with send(stack, method, path, tokens["admin"]) as resp:
            assert resp.status_code not in (401, 403), (method, path, resp.status_code)
            assert resp.status_code < 500, (method, path, resp.status_code)
