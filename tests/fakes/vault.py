"""A loopback stand-in for HashiCorp Vault: the KV v2 and token endpoints hvac calls.

A real HTTP server on a free port (hvac talks to it with ``requests``, exactly as to Vault),
holding secrets in memory. It checks ``X-Vault-Token`` on every request and answers like
Vault: 403 ``{"errors": ["permission denied"]}`` for an unknown or expired token, 404
``{"errors": []}`` for a path with nothing, 204 for deletes. Tests expire tokens
(:meth:`FakeVault.expire`) to exercise re-authentication, and read :attr:`FakeVault.requests`.

Endpoints: ``GET /v1/sys/health``; ``GET /v1/auth/token/lookup-self``;
``POST|PUT /v1/auth/token/renew-self``; under ``/v1/<mount>/``: ``GET|POST|PUT data/<path>``,
``GET|DELETE metadata/<path>``, ``LIST metadata/<path>`` (or ``GET ...?list=true``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http import FakeHTTPServer, Incoming, reply


class FakeVault(FakeHTTPServer):
    """Start with :meth:`start`; ``url`` is what VAULT_ADDR should be."""

    methods = ("GET", "POST", "PUT", "DELETE", "LIST")
    protocol_version = "HTTP/1.1"

    def __init__(self, mount: str = "secret", token: str = "root-token", ttl: int = 3600) -> None:
        self.mount = mount
        self.tokens: dict[str, dict[str, Any]] = {}
        self.add_token(token, ttl)
        self.data: dict[str, list[dict[str, str]]] = {}  # path → versions
        self.requests: list[tuple[str, str]] = []

    def add_token(self, token: str, ttl: int = 3600, renewable: bool = True) -> None:
        self.tokens[token] = {"ttl": ttl, "renewable": renewable, "renewed": 0}

    def expire(self, token: str) -> None:
        self.tokens.pop(token, None)

    def handle(self, request: Incoming, handler: BaseHTTPRequestHandler) -> None:
        _Exchange(self, request, handler).answer()


class _Exchange:
    """One request to the fake Vault and its answer."""

    def __init__(self, fake: FakeVault, request: Incoming, handler: BaseHTTPRequestHandler):
        self.fake, self.request, self.handler = fake, request, handler
        self.headers = request.headers

    def _send(self, status: int, body: Any = None) -> None:
        reply(self.handler, status, b"" if body is None else body)

    def answer(self) -> None:
        fake, method = self.fake, self.request.method
        parts = urlsplit(self.request.target)
        path, query = parts.path, parse_qs(parts.query)
        body = self.request.json(default={}) if method in ("POST", "PUT") else {}
        fake.record((method, path))
        if path == "/v1/sys/health":
            return self._send(200, {"initialized": True, "sealed": False, "standby": False})
        token = self.headers.get("X-Vault-Token") or ""
        info = fake.tokens.get(token)
        if info is None:
            return self._send(403, {"errors": ["permission denied"]})
        if path == "/v1/auth/token/lookup-self":
            data = {"id": token, "ttl": info["ttl"], "renewable": info["renewable"]}
            return self._send(200, {"data": data})
        if path == "/v1/auth/token/renew-self" and method in ("POST", "PUT"):
            info["renewed"] += 1
            info["ttl"] = 3600
            return self._send(200, {"auth": {"client_token": token, "lease_duration": 3600}})
        prefix = f"/v1/{fake.mount}/"
        if not path.startswith(prefix):
            return self._send(404, {"errors": [f"no handler for route {path!r}"]})
        kind, _, key = path[len(prefix) :].partition("/")
        if method == "GET" and query.get("list") == ["true"]:
            method = "LIST"
        if kind == "data" and method in ("POST", "PUT"):
            return self._write(key, body)
        if kind == "data" and method == "GET":
            return self._read(key)
        if kind == "metadata":
            return self._metadata(method, key)
        return self._send(405, {"errors": ["unsupported operation"]})

    def _write(self, key: str, body: dict[str, Any]) -> None:
        values = body.get("data")
        if not isinstance(values, dict):
            return self._send(400, {"errors": ["no data provided"]})
        with self.fake.lock:
            versions = self.fake.data.setdefault(key, [])
            versions.append(dict(values))
            version = len(versions)
        now = datetime.now(UTC).isoformat()
        meta = {"created_time": now, "deletion_time": "", "destroyed": False, "version": version}
        self._send(200, {"data": meta})

    def _read(self, key: str) -> None:
        versions = self.fake.data.get(key)
        if not versions:
            return self._send(404, {"errors": []})
        meta = {"version": len(versions), "deletion_time": "", "destroyed": False}
        self._send(200, {"data": {"data": versions[-1], "metadata": meta}})

    def _metadata(self, method: str, key: str) -> None:
        if method == "DELETE":
            with self.fake.lock:
                self.fake.data.pop(key, None)
            return self._send(204)
        if method == "LIST":
            base = key.rstrip("/") + "/" if key else ""
            children = {
                k[len(base) :].split("/")[0] + ("/" if "/" in k[len(base) :] else "")
                for k in self.fake.data
                if k.startswith(base)
            }
            if not children:
                return self._send(404, {"errors": []})
            return self._send(200, {"data": {"keys": sorted(children)}})
        if method == "GET":
            versions = self.fake.data.get(key)
            if not versions:
                return self._send(404, {"errors": []})
            return self._send(200, {"data": {"current_version": len(versions)}})
        return self._send(405, {"errors": ["unsupported operation"]})
