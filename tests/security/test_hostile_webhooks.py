"""An outsider's webhook deliveries against the real HTTP server (werkzeug on a real port):
deeply nested JSON, a chunked body over the limit, and a captured delivery replayed under a
new delivery id. None may answer 500, none may build twice."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from ocelot.db import session_scope
from ocelot.forges.base import sign
from ocelot.models import Build, Delivery, Repo
from ocelot.services.hooks import set_webhook_secret
from tests.fakes.webhooks import body
from tests.stack import Stack, make_repo

SECRET = "security-probe-secret-0123456789"
DEEP = b"[" * 100_000


def headers_for(forge: str, data: bytes, signed: bool) -> dict[str, str]:
    """What each forge sends, with a fresh delivery id; signed over ``data`` or not at all."""
    delivery = str(uuid.uuid4())
    if forge == "github":
        out = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery}
        if signed:
            out["X-Hub-Signature-256"] = sign(SECRET, data)
    elif forge == "gitlab":
        out = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": delivery}
        if signed:
            out["X-Gitlab-Token"] = SECRET
    else:
        out = {"X-Event-Key": "repo:push", "X-Request-UUID": delivery}
        if signed:
            out["X-Hub-Signature"] = sign(SECRET, data)
    return {**out, "Content-Type": "application/json"}


@pytest.fixture
def tracked(stack: Stack, repo_dir: Path) -> Iterator[tuple[str, str]]:
    """A real repository tracked with a webhook secret: (full name, its commit)."""
    commit = make_repo(repo_dir, {"ocelot.yml": "image: ocelot/busybox\n"})
    name = stack.add_repo(repo_dir)
    with session_scope(stack.engine) as session:
        set_webhook_secret(session, stack.settings, name, SECRET)
    yield name, commit


def builds_of(stack: Stack, name: str) -> int:
    with session_scope(stack.engine) as session:
        repo_id = session.scalar(select(Repo.id).where(Repo.full_name == name))
        return int(session.scalar(select(func.count(Build.id)).where(Build.repo_id == repo_id)))


@pytest.mark.parametrize("forge", ["github", "gitlab", "bitbucket"])
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_deeply_nested_json_is_a_400_not_a_500(stack: Stack, forge: str, signed: bool) -> None:
    resp = requests.post(
        f"{stack.url}/hooks/{forge}",
        data=DEEP,
        headers=headers_for(forge, DEEP, signed),
        timeout=30,
    )
    assert resp.status_code == 400, resp.text[:300]
    assert resp.json()["error"]["message"] == (
        "the webhook body is not valid JSON (nested too deeply)"
    )
    # The server is still fine afterwards.
    assert requests.get(f"{stack.url}/healthz", timeout=10).status_code == 200


def post_chunked(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=60)
    try:
        parts = (data[i : i + 65536] for i in range(0, len(data), 65536))
        conn.request("POST", where.path, body=parts, headers=headers, encode_chunked=True)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def test_a_chunked_body_over_the_limit_is_413_like_with_a_content_length(
    stack: Stack, tracked: tuple[str, str]
) -> None:
    name, _ = tracked
    limit = stack.settings.max_body_bytes
    data = b'{"repository": {"full_name": "' + name.encode() + b'"}, "pad": "'
    data += b"x" * (limit + 100_000) + b'"}'
    headers = headers_for("github", data, signed=True)
    status, answer = post_chunked(f"{stack.url}/hooks/github", data, headers)
    assert status == 413, answer
    assert answer["error"]["code"] == "payload_too_large"
    with_length = requests.post(f"{stack.url}/hooks/github", data=data, headers=headers, timeout=60)
    assert with_length.status_code == 413
    assert builds_of(stack, name) == 0


def test_a_chunked_body_under_the_limit_is_read_whole(
    stack: Stack, tracked: tuple[str, str]
) -> None:
    name, commit = tracked
    payload = json.loads(body("github/push.json"))
    payload["repository"]["full_name"] = name
    payload["after"] = commit
    data = json.dumps(payload).encode()
    status, answer = post_chunked(
        f"{stack.url}/hooks/github", data, headers_for("github", data, signed=True)
    )
    assert status == 202, answer
    assert builds_of(stack, name) == 1


def test_a_captured_delivery_replayed_under_a_new_id_builds_nothing(
    stack: Stack, tracked: tuple[str, str]
) -> None:
    name, commit = tracked
    payload = json.loads(body("github/push.json"))
    payload["repository"]["full_name"] = name
    payload["after"] = commit
    data = json.dumps(payload).encode()
    url = f"{stack.url}/hooks/github"
    first = requests.post(url, data=data, headers=headers_for("github", data, True), timeout=30)
    assert first.status_code == 202, first.text
    # The attacker kept the signed body and sends it again with a delivery id never seen.
    replay = requests.post(url, data=data, headers=headers_for("github", data, True), timeout=30)
    assert replay.status_code == 200, replay.text
    answer = replay.json()
    assert answer["status"] == "duplicate"
    assert answer["reason"].startswith(
        f"this body was already accepted as delivery {first.json()['delivery']} at "
    )
    assert answer["reason"].endswith("(replay?)")
    assert builds_of(stack, name) == 1
    with session_scope(stack.engine) as session:
        verdicts = list(
            session.scalars(
                select(Delivery.verdict).where(Delivery.repo_name == name).order_by(Delivery.id)
            )
        )
    assert verdicts == ["accepted", "duplicate"]
