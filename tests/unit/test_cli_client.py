"""The CLI's REST client against a real HTTP server on loopback: errors, headers, SSE.

:class:`FakeServer` is shared with the CLI command tests: canned JSON per route, recorded
requests, and hand-written streams (chunked or HTTP/1.0) for the log follower.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from ocelot.cli.client import Client
from ocelot.cli.sse import SseEvent, parse_sse
from ocelot.errors import (
    ConfigError,
    Conflict,
    DependencyUnavailable,
    NotFound,
    NotTracked,
    OcelotError,
    Unauthorized,
)
from tests.fakes.http import FakeHTTPServer, Incoming, reply


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


Writer = Callable[["Stream"], None]


class Stream:
    """What a streaming route writes with: ``send`` one piece now, chunked or raw."""

    def __init__(self, handler: BaseHTTPRequestHandler, chunked: bool) -> None:
        self.handler, self.chunked = handler, chunked

    def send(self, text: str) -> None:
        data = text.encode()
        if self.chunked:
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        self.handler.wfile.write(data)
        self.handler.wfile.flush()

    def event(self, name: str, data: dict[str, Any]) -> None:
        self.send(f"event: {name}\ndata: {json.dumps(data)}\n\n")


class FakeServer(FakeHTTPServer):
    """A tiny Ocelot API: ``json()`` / ``sequence()`` / ``stream()`` routes by method + path.
    Serves inside ``with FakeServer() as fake:``; ``seen`` lists the requests."""

    methods = ("GET", "POST", "DELETE")
    protocol_version = "HTTP/1.1"

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Any] = {}
        self.requests: list[Seen] = []
        self.seen = self.requests

    # -- routes ----------------------------------------------------------------------------

    def json(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.routes[(method, path)] = [(status, body)]

    def sequence(self, method: str, path: str, answers: list[tuple[int, Any]]) -> None:
        """Successive answers; the last one repeats."""
        self.routes[(method, path)] = list(answers)

    def error(self, method: str, path: str, status: int, code: str, message: str) -> None:
        self.json(method, path, {"error": {"code": code, "message": message}}, status)

    def stream(self, path: str, writers: list[Writer], chunked: bool = True) -> None:
        """A GET answered by ``writers`` in turn (one per connection; the last repeats)."""
        self.routes[("GET", path)] = [("stream", (w, chunked)) for w in writers]

    def requests_to(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]

    # -- serving ---------------------------------------------------------------------------

    def handle(self, request: Incoming, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(request.raw) if request.raw else None
        self.record(Seen(request.method, request.path, request.query, request.headers, body))
        answers = self.routes.get((request.method, request.path))
        status: Any
        payload: Any
        if not answers:
            status, payload = 404, {"error": {"code": "not_found", "message": "no such route"}}
        else:
            status, payload = answers.pop(0) if len(answers) > 1 else answers[0]
        if status == "stream":
            writer, chunked = payload
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            if chunked:
                h.send_header("Transfer-Encoding", "chunked")
            else:
                h.send_header("Connection", "close")
                h.protocol_version = "HTTP/1.0"
            h.end_headers()
            writer(Stream(h, chunked))
            h.close_connection = True
            return
        if status == 204:
            payload = b""
        reply(h, status, payload if isinstance(payload, bytes) else json.dumps(payload))


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- errors ------------------------------------------------------------------------------------


def test_not_tracked_becomes_NotTracked_with_exit_code_3(server: FakeServer) -> None:
    server.error("GET", "/api/v1/repos/acme/demo", 404, "not_tracked", "ignored text")
    with pytest.raises(NotTracked) as info:
        Client(server.url, "t").repo("acme/demo")
    assert info.value.message == "acme/demo isn't tracked by ocelot"
    assert info.value.exit_code == 3


def test_401_says_where_the_token_comes_from(server: FakeServer) -> None:
    server.error("GET", "/api/v1/repos", 401, "unauthorized", "invalid or revoked token")
    with pytest.raises(Unauthorized) as info:
        Client(server.url, "bad").repos()
    assert "invalid or revoked token" in info.value.message
    assert "OCELOT_TOKEN" in info.value.message and "config.yml" in info.value.message


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [(409, "conflict", Conflict), (404, "not_found", NotFound), (418, "teapot", OcelotError)],
)
def test_error_bodies_map_to_the_error_tree(
    server: FakeServer, status: int, code: str, cls: type[OcelotError]
) -> None:
    server.error("POST", "/api/v1/builds/3/kill", status, code, "build 3 has already finished")
    with pytest.raises(cls) as info:
        Client(server.url, "t").kill(3)
    assert info.value.message == "build 3 has already finished"


def test_a_422_keeps_the_issues(server: FakeServer) -> None:
    issue = {"path": "image", "line": 1, "message": "bad", "severity": "error"}
    body = {
        "error": {"code": "invalid_config", "message": "ocelot.yml is invalid", "issues": [issue]}
    }
    server.json("POST", "/api/v1/repos/acme/demo/builds", body, 422)
    with pytest.raises(ConfigError) as info:
        Client(server.url, "t").create_build("acme/demo", branch="m", hash=None, force=False)
    assert info.value.issues == [issue]


def test_a_non_json_error_names_the_status(server: FakeServer) -> None:
    server.json("GET", "/api/v1/builds/1", b"<html>bad gateway</html>", 502)
    with pytest.raises(OcelotError, match="HTTP 502"):
        Client(server.url, "t").build(1)


def test_connection_refused_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DependencyUnavailable) as info:
        Client(url, "t").repos()
    assert f"cannot reach the ocelot server at {url}" in info.value.message


def test_requests_carry_the_token_and_the_cli_marker(server: FakeServer) -> None:
    server.json("POST", "/api/v1/repos/acme/demo/builds", {"id": 1}, 201)
    Client(server.url, "sekret").create_build("acme/demo", branch="main", hash=None, force=True)
    (seen,) = server.seen
    assert seen.headers["Authorization"] == "Bearer sekret"
    assert seen.headers["X-Ocelot-Client"] == "cli"
    assert seen.body == {"branch": "main", "force": True}


# -- server-sent events ------------------------------------------------------------------------


def test_parse_sse_handles_comments_multiline_data_and_unnamed_events() -> None:
    lines = [
        ": keepalive",
        "",
        "event: log",
        "data: a",
        "data:b",
        "id: 7",
        "",
        "data: x",
        "",
        "event: end",
        "data: {}",
    ]  # the last event is never terminated: dropped
    assert list(parse_sse(lines)) == [SseEvent("log", "a\nb", "7"), SseEvent("message", "x", "7")]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "http1.0"])
def test_events_arrive_as_they_are_sent(server: FakeServer, chunked: bool) -> None:
    """The second event is only sent once the client has seen the first: a reader that
    waited for a full buffer (or the end of the body) would never get there."""
    first_seen = threading.Event()

    def writer(out: Stream) -> None:
        out.send(": keepalive\n\n")
        out.event("log", {"seq": 1, "stage": "a", "text": "one\n"})
        assert first_seen.wait(5), "the client did not read the first event as it came"
        out.event("end", {"status": "PASSED"})

    server.stream("/api/v1/builds/4/logs", [writer], chunked=chunked)
    events = Client(server.url, "t").follow_logs(4, stage="a")
    first = next(events)
    first_seen.set()
    assert (first.event, json.loads(first.data)["text"]) == ("log", "one\n")
    assert next(events).event == "end"
    assert server.seen[0].query == {"follow": "1", "stage": "a"}
