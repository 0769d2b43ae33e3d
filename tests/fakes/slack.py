"""A small Slack stand-in: the incoming-webhook POST and the Web API ``chat.postMessage``.

Every request is recorded (path, headers, payload, the status answered). ``fail_next(n)``
makes the next ``n`` requests answer HTTP 500 (or another status), so retry behaviour can be
tested against a real HTTP server rather than a patched client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.http import FakeHTTPServer, Incoming, reply

WEBHOOK_PATH = "/services/T000/B000/XXXXSECRETXXXX"
BOT_TOKEN = "xoxb-000-fake-bot-token"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    payload: dict[str, Any]
    status: int


@dataclass
class FakeSlack(FakeHTTPServer):
    methods = ("POST",)
    requests: list[Request] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.start()

    def handle(self, request: Incoming, handler: BaseHTTPRequestHandler) -> None:
        if "json" in (request.headers.get("Content-Type") or ""):
            payload = request.json(default={})
        else:
            payload = request.form()
        status, body, ctype = self._answer(request.target, request.headers, payload)
        reply(handler, status, body, ctype)

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def fail_next(self, times: int, status: int = 500) -> None:
        with self.lock:
            self._failures.extend([status] * times)

    def delivered(self) -> list[Request]:
        """Requests answered 200 (the messages Slack would have shown)."""
        with self.lock:
            return [r for r in self.requests if r.status == 200]

    def _answer(
        self, path: str, headers: dict[str, str], payload: dict[str, Any]
    ) -> tuple[int, str, str]:
        with self.lock:
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


_JSON = "application/json; charset=utf-8"
