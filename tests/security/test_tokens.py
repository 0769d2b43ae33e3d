"""An outsider's probe of the token lifecycle over real HTTP: expired and revoked tokens are
refused everywhere, the token list never shows a secret, and unauthenticated ``/readyz``
says nothing but ``ok``/``down``."""

from __future__ import annotations

import uuid
from datetime import timedelta

import requests
from sqlalchemy import select

from ocelot.db import session_scope
from ocelot.models import ApiToken, utcnow
from ocelot.services.tokens import create_token, digest
from tests.stack import Stack

TIMEOUT = 15


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def get(stack: Stack, path: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(stack.url + path, headers=headers, timeout=TIMEOUT)


def test_an_expired_token_is_refused(stack: Stack) -> None:
    name = unique("expiring")
    with session_scope(stack.engine) as session:
        token = create_token(session, name, role="admin", expires_at=utcnow() + timedelta(hours=1))
    assert get(stack, "/api/v1/whoami", token).status_code == 200
    with session_scope(stack.engine) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == name))
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    for path in ("/api/v1/whoami", "/api/v1/repos", "/api/v1/tokens", "/api/v1/creds"):
        resp = get(stack, path, token)
        assert resp.status_code == 401, path
        assert resp.json()["error"]["message"] == "token expired"


def test_a_token_revoked_over_the_api_is_refused_at_once(stack: Stack) -> None:
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {stack.token}"
    name = unique("leaked")
    resp = admin.post(
        f"{stack.url}/api/v1/tokens", json={"name": name, "role": "build"}, timeout=TIMEOUT
    )
    assert resp.status_code == 201, resp.text
    leaked = resp.json()["token"]
    assert get(stack, "/api/v1/builds", leaked).status_code == 200

    listing = admin.get(f"{stack.url}/api/v1/tokens", timeout=TIMEOUT)
    assert listing.status_code == 200
    assert leaked not in listing.text and digest(leaked) not in listing.text
    assert stack.token not in listing.text and digest(stack.token) not in listing.text

    resp = admin.delete(f"{stack.url}/api/v1/tokens/{resp.json()['id']}", timeout=TIMEOUT)
    assert resp.status_code == 200
    refused = get(stack, "/api/v1/builds", leaked)
    forged = get(stack, "/api/v1/builds", "oct_" + "A" * 43)
    assert refused.status_code == forged.status_code == 401
    assert refused.json() == forged.json()  # no oracle telling revoked from never-existed


def test_a_read_token_cannot_mint_a_bigger_one(stack: Stack) -> None:
    with session_scope(stack.engine) as session:
        read = create_token(session, unique("reader"), role="read")
    resp = requests.post(
        f"{stack.url}/api/v1/tokens",
        headers={"Authorization": f"Bearer {read}"},
        json={"name": unique("escalate"), "role": "admin"},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 403
    assert "token" not in resp.json()


def test_readyz_tells_an_outsider_only_ok_or_down(stack: Stack) -> None:
    for token in (None, "oct_forged", "not-even-a-token"):
        resp = get(stack, "/readyz", token)
        body = resp.json()
        assert set(body) == {"status", "checks"}
        assert set(body["checks"].values()) <= {"ok", "down"}
    details = get(stack, "/readyz", stack.token).json()
    assert set(details["details"]) == set(details["checks"])
