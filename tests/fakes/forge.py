"""A fake forge: a real HTTP server on a free loopback port that records every request.

It answers like the GitHub, GitLab and Bitbucket APIs where Ocelot reads the answer (a new
comment's ``id``, a new hook's ``id`` / ``uuid``, ``routes`` for exact GET paths) and ``{}``
elsewhere. ``fail_next(n, 500)`` makes the next ``n`` requests fail, to exercise retries.
Point a forge client at ``url``.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.http import FakeHTTPServer, Incoming, reply


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 200


@dataclass
class FakeForge(FakeHTTPServer):
    requests: list[Recorded] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    # GET answers by exact path (no query): repository listings, raw files (Bitbucket).
    routes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1001)
        self.start()

    def handle(self, request: Incoming, handler: BaseHTTPRequestHandler) -> None:
        body = request.json()
        status, answer = self._answer(request.method, request.target, body)
        self.record(Recorded(request.method, request.target, request.headers, body, status))
        reply(handler, status, answer)

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            if self.failures:
                return self.failures.pop(0), {"message": "fake outage"}
            new_id = next(self._ids)
        bare = path.split("?")[0]
        if method == "GET" and bare in self.routes:
            return 200, self.routes[bare]
        if method == "GET":
            for name, text in self.files.items():
                if name in bare:
                    return 200, {"content": base64.b64encode(text.encode()).decode()}
            return 404, {"message": "Not Found"}
        if method == "POST" and (bare.endswith("/comments") or bare.endswith("/notes")):
            return 201, {"id": new_id}
        if method == "POST" and bare.endswith("/hooks"):
            return 201, {"id": new_id, "uuid": f"{{{new_id}}}"}
        if method == "DELETE":
            return 204, ""
        return 200 if method != "POST" else 201, {}

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self.failures.extend([status] * count)

    def calls(self, method: str | None = None, contains: str = "") -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and contains in r.path and r.status < 400
        ]
