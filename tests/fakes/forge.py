"""A fake forge: a real HTTP server on a free loopback port that records every request.

It answers like the GitHub, GitLab and Bitbucket APIs where Ocelot reads the answer (a new
comment's ``id``, a new hook's ``id`` / ``uuid``, ``routes`` for exact GET paths) and ``{}``
elsewhere. ``fail_next(n, 500)`` makes the next ``n`` requests fail, to exercise retries.
Point a forge client at ``url``.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 200


@dataclass
class FakeForge:
    requests: list[Recorded] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    # GET answers by exact path (no query): repository listings, raw files (Bitbucket).
    routes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                status, answer = fake._answer(self.command, self.path, body)
                fake.requests.append(
                    Recorded(self.command, self.path, dict(self.headers.items()), body, status)
                )
                data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        with self._lock:
            if self.failures:
                return self.failures.pop(0), {"message": "fake outage"}
            new_id = next(self._ids)
        bare = path.split("?")[0]
        if method == "GET" and bare in self.routes:
            return 200, self.routes[bare]
        if method == "GET":
            for name, text in self.files.items():
                if name in bare:
                    return 200, {"content": __import__("base64").b64encode(text.encode()).decode()}
            return 404, {"message": "Not Found"}
        if method == "POST" and (bare.endswith("/comments") or bare.endswith("/notes")):
            return 201, {"id": new_id}
        if method == "POST" and bare.endswith("/hooks"):
            return 201, {"id": new_id, "uuid": f"{{{new_id}}}"}
        if method == "DELETE":
            return 204, ""
        return 200 if method != "POST" else 201, {}

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self.failures.extend([status] * count)

    def calls(self, method: str | None = None, contains: str = "") -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and contains in r.path and r.status < 400
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
