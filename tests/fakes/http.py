"""What the loopback HTTP fakes share: a real server on a free port, served from a thread.

A fake subclasses :class:`FakeHTTPServer` and implements :meth:`~FakeHTTPServer.handle`,
which gets the request read into an :class:`Incoming` (method, path, query, headers, body)
and the raw handler to answer with :func:`reply` (or to stream, as the CLI's log follower
fake does). :meth:`~FakeHTTPServer.record` appends to the fake's ``requests`` list under the
server's lock, so tests read what the client sent; each fake keeps its own record type.

``start()`` binds ``127.0.0.1`` (port 0: a free one, so ``url`` is known only after
it) and returns the fake; ``stop()`` (also ``close()``, and leaving a ``with`` block)
shuts it down. Nothing is left running after ``stop()``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Incoming:
    """One request as the fake received it. ``target`` is the path with its query, as sent."""

    method: str
    target: str
    headers: dict[str, str]
    raw: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))

    def json(self, default: Any = None) -> Any:
        """The body as JSON (``default`` when empty); text when it is not JSON."""
        if not self.raw:
            return default
        try:
            return json.loads(self.raw)
        except ValueError:
            return self.raw.decode(errors="replace")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.raw.decode()))


def reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: Any = b"",
    content_type: str = "application/json",
) -> None:
    """Answer with ``body``: bytes and str as they are, anything else as JSON."""
    if isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    handler.send_response(status)
    if data or status != 204:
        handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class FakeHTTPServer:
    """Base of the HTTP fakes: start on a free loopback port in a thread, record, stop."""

    host: ClassVar[str] = "127.0.0.1"
    methods: ClassVar[tuple[str, ...]] = ("GET", "POST", "PUT", "PATCH", "DELETE")
    protocol_version: ClassVar[str] = "HTTP/1.0"

    requests: list[Any]  # each fake makes its own list of its own record type
    _httpd: ThreadingHTTPServer | None = None
    _lock: threading.Lock | None = None

    # -- what a fake implements ------------------------------------------------------------

    def handle(self, request: Incoming, handler: BaseHTTPRequestHandler) -> None:
        """Answer ``request`` through ``handler`` (usually with :func:`reply`)."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------

    @property
    def lock(self) -> threading.Lock:
        if self._lock is None:
            self._lock = threading.Lock()
        return self._lock

    def record(self, entry: Any) -> None:
        """Append ``entry`` to ``self.requests`` under the lock."""
        with self.lock:
            self.requests.append(entry)

    def start(self, port: int = 0) -> Self:
        if self._httpd is not None:
            return self
        self.lock  # noqa: B018 - made before the first request thread needs it
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = fake.protocol_version

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = Incoming(self.command, self.path, dict(self.headers.items()), raw)
                fake.handle(request, self)

        for method in self.methods:
            setattr(Handler, f"do_{method}", Handler._any)
        httpd = ThreadingHTTPServer((self.host, port), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
            name=f"{type(self).__name__}:{self.port}",
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            self._thread.join(timeout=5)

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
