"""Hostile webhook bodies against a real database: deeply nested JSON (400, never 500),
chunked bodies read whole and bounded (413 like a Content-Length body), and a captured
delivery replayed under a new delivery id (200 ``duplicate``, no second build)."""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from werkzeug.serving import make_server

from ocelot.db import session_scope
from ocelot.forges.base import JSONTooDeep, json_loads
from ocelot.models import Build, Delivery, utcnow
from ocelot.settings import Settings
from tests.fakes.webhooks import body, event_headers, signed_headers
from tests.functional.test_hooks_receive import KEY, SECRET, deliveries, post, track
from tests.servers import free_port
from web import create_app

DEEP = b"[" * 100_000
# The same depth hidden inside an object that names a tracked repository.
DEEP_IN_OBJECT = b'{"repository": {"full_name": "binkkatal/sample_app"}, "x": ' + DEEP + b"}"
PUSHES = {
    "github": ("github/push.json", "binkkatal/sample_app"),
    "gitlab": ("gitlab/push.json", "mike/diaspora"),
    "bitbucket": ("bitbucket/repo-push.json", "martinherren1984/publictestrepo"),
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(secret_key=KEY)


def builds(engine: Engine) -> list[Build]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Build).order_by(Build.id)).unique())


def test_json_loads_turns_recursion_into_a_value_error() -> None:
    with pytest.raises(JSONTooDeep):
        json_loads(DEEP)
    assert issubclass(JSONTooDeep, ValueError)
    assert json_loads(b'{"a": [[1]]}') == {"a": [[1]]}


@pytest.mark.parametrize("forge", sorted(PUSHES))
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("data", [DEEP, DEEP_IN_OBJECT], ids=["bare", "in-object"])
def test_deeply_nested_json_is_400_on_every_forge(
    client: FlaskClient, engine: Engine, forge: str, signed: bool, data: bytes
) -> None:
    fixture, repo = PUSHES[forge]
    track(engine, repo, forge)
    headers = signed_headers(fixture, SECRET, data) if signed else event_headers(fixture)
    resp = post(client, fixture, headers, data)
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    message = resp.get_json()["error"]["message"]
    assert message == "the webhook body is not valid JSON (nested too deeply)"
    assert builds(engine) == []


# -- replay under a new delivery id ----------------------------------------------------------


@pytest.mark.parametrize("forge", sorted(PUSHES))
def test_a_replayed_body_under_a_new_delivery_id_is_a_duplicate(
    client: FlaskClient, engine: Engine, auth: dict[str, str], forge: str
) -> None:
    fixture, repo = PUSHES[forge]
    track(engine, repo, forge)
    first = post(client, fixture, signed_headers(fixture, SECRET))
    assert first.status_code == 202, first.get_json()
    replay = post(client, fixture, signed_headers(fixture, SECRET))  # a fresh delivery id
    assert replay.status_code == 200, replay.get_json()
    data = replay.get_json()
    assert data["status"] == "duplicate"
    accepted = first.get_json()["delivery"]
    assert data["reason"].startswith(f"this body was already accepted as delivery {accepted} at ")
    assert data["reason"].endswith("UTC (replay?)")
    assert data["build_id"] == first.get_json()["build_id"]
    assert len(builds(engine)) == 1
    records = deliveries(client, auth, repo)
    assert [r["verdict"] for r in records] == ["duplicate", "accepted"]
    assert "(replay?)" in records[0]["reason"]
    with session_scope(engine) as session:
        digests = set(session.scalars(select(Delivery.body_digest)))
    assert len(digests) == 1 and len(next(iter(digests)) or "") == 64


def test_a_redelivery_with_the_same_id_keeps_its_own_message(
    client: FlaskClient, engine: Engine
) -> None:
    track(engine, "binkkatal/sample_app", "github")
    headers = signed_headers("github/push.json", SECRET)
    assert post(client, "github/push.json", headers).status_code == 202
    again = post(client, "github/push.json", headers)
    assert again.status_code == 200
    assert again.get_json()["reason"].endswith("was received already")


def test_only_an_accepted_body_counts_and_only_for_24_hours(
    client: FlaskClient, engine: Engine
) -> None:
    track(engine, "binkkatal/sample_app", "github")
    fixture = "github/push.json"
    forged = {**event_headers(fixture), "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert post(client, fixture, forged).status_code == 401  # rejected: not a precedent
    assert post(client, fixture, signed_headers(fixture, SECRET)).status_code == 202
    with session_scope(engine) as session:
        session.execute(update(Delivery).values(received_at=utcnow() - timedelta(hours=25)))
    later = post(client, fixture, signed_headers(fixture, SECRET))
    assert later.status_code == 202, later.get_json()
    assert len(builds(engine)) == 2


def test_ignored_bodies_are_not_replays(client: FlaskClient, engine: Engine) -> None:
    track(engine, "Octocoders/Hello-World", "github")
    for _ in range(2):
        resp = post(client, "github/ping.json", signed_headers("github/ping.json", SECRET))
        assert resp.get_json()["status"] == "ignored"


def test_an_unsigned_replay_is_still_401(client: FlaskClient, engine: Engine) -> None:
    track(engine, "binkkatal/sample_app", "github")
    assert post(client, "github/push.json", signed_headers("github/push.json", SECRET)).status_code
    resp = post(client, "github/push.json", event_headers("github/push.json"))
    assert resp.status_code == 401


# -- chunked bodies through a real HTTP server -------------------------------------------------


@pytest.fixture
def small_server(settings: Settings) -> Iterator[tuple[str, int]]:
    """The app with a 4 KiB body limit, served by werkzeug on a real port."""
    app: Flask = create_app(settings.with_(max_body_bytes=4096))
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", port
    server.shutdown()
    thread.join(5)


def chunked_post(
    where: tuple[str, int], path: str, data: bytes, headers: dict[str, str], size: int = 1000
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(*where, timeout=30)
    try:
        parts = (data[i : i + size] for i in range(0, len(data), size))
        conn.request(
            "POST",
            path,
            body=parts,
            headers={**headers, "Content-Type": "application/json"},
            encode_chunked=True,
        )
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def test_a_chunked_body_is_read_whole(
    small_server: tuple[str, int], engine: Engine, settings: Settings
) -> None:
    track(engine, "binkkatal/sample_app", "github")
    payload = json.loads(body("github/push.json"))
    payload = {k: payload[k] for k in ("ref", "before", "after", "commits")}
    payload["repository"] = {"full_name": "binkkatal/sample_app"}
    payload["sender"] = {"login": "binkkatal"}
    data = json.dumps(payload).encode()
    assert len(data) < 4096
    status, answer = chunked_post(
        small_server, "/hooks/github", data, signed_headers("github/push.json", SECRET, data), 100
    )
    assert status == 202, answer
    assert len(builds(engine)) == 1


@pytest.mark.parametrize("extra", [1, 3000, 2 * 1024 * 1024])
def test_a_chunked_body_over_the_limit_is_413(
    small_server: tuple[str, int], engine: Engine, extra: int
) -> None:
    track(engine, "binkkatal/sample_app", "github")
    data = b'{"pad": "' + b"x" * (4096 + extra) + b'"}'
    headers = {**signed_headers("github/push.json", SECRET, data), "X-GitHub-Delivery": "d"}
    try:
        status, answer = chunked_post(small_server, "/hooks/github", data, headers)
    except (ConnectionResetError, BrokenPipeError):
        # Far over the bound the server stops reading: the client may see the reset.
        assert extra > 1024 * 1024
        return
    assert status == 413, answer
    assert answer["error"]["code"] == "payload_too_large"
    assert builds(engine) == []


def test_a_body_of_exactly_the_limit_is_read(small_server: tuple[str, int], engine: Engine) -> None:
    data = b'{"p": "' + b"x" * (4096 - 9) + b'"}'
    assert len(data) == 4096
    status, answer = chunked_post(small_server, "/hooks/github", data, {"X-GitHub-Event": "x"})
    assert status == 400 and "names no repository" in answer["error"]["message"]
    uid = str(uuid.uuid4())
    status, _ = chunked_post(small_server, "/hooks/github", data + b" ", {"X-GitHub-Delivery": uid})
    assert status == 413
