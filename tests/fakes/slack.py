"""A small Slack stand-in: the incoming-webhook POST and the Web API ``chat.postMessage``.

Every request is recorded (path, headers, payload, the status answered). ``fail_next(n)``
makes the next ``n`` requests answer HTTP 500 (or another status), so retry behaviour can be
tested against a real HTTP server rather than a patched client.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

WEBHOOK_PATH = "/services/T000/B000/XXXXSECRETXXXX"
BOT_TOKEN = "xoxb-000-fake-bot-token"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    payload: dict[str, Any]
    status: int


@dataclass
class FakeSlack:
    host: str = "127.0.0.1"
    requests: list[Request] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    payload = json.loads(raw or "{}")
                else:
                    payload = dict(parse_qsl(raw))
                status, body, ctype = fake._answer(self.path, dict(self.headers), payload)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def fail_next(self, times: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * times)

    def delivered(self) -> list[Request]:
        """Requests answered 200 (the messages Slack would have shown)."""
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    def _answer(
        self, path: str, headers: dict[str, str], payload: dict[str, Any]
    ) -> tuple[int, str, str]:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                self.requests.append(Request(path, headers, payload, failure))
                return failure, "internal_error", "text/plain"
            if path == WEBHOOK_PATH:
                self.requests.append(Request(path, headers, payload, 200))
                return 200, "ok", "text/plain"
            if path == "/api/chat.postMessage":
                if headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
                    self.requests.append(Request(path, headers, payload, 200))
                    return 200, json.dumps({"ok": False, "error": "invalid_auth"}), _JSON
                self.requests.append(Request(path, headers, payload, 200))
                body = {"ok": True, "channel": payload.get("channel"), "ts": "1.000"}
                return 200, json.dumps(body), _JSON
            self.requests.append(Request(path, headers, payload, 404))
            return 404, "no_service", "text/plain"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_JSON = "application/json; charset=utf-8"
