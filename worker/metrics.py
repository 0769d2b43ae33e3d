"""The worker's own metrics endpoint: a small HTTP server in the worker's main process, on
``OCELOT_METRICS_ADDR``:``OCELOT_METRICS_PORT`` (0 = none), started on ``worker_ready``.

Builds, stages, log writes and notices happen in the prefork pool's processes, so
``python -m worker`` puts its whole tree in multiprocess mode before the pool forks
(:func:`prepare`, :mod:`ocelot.metrics_setup`); a scrape adds up every process's file, those of
pool processes that were replaced included. Each worker host is scraped on its own: nothing
here needs the web app, the database or another host. ``OCELOT_METRICS_TOKEN``, when set, is
required as ``Authorization: Bearer <token>``, as on the web app's ``/metrics``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ocelot.metrics_setup import multiprocess_dir, use_multiprocess_dir
from ocelot.settings import Settings

log = logging.getLogger("ocelot.worker")

StartResponse = Callable[..., Any]


def prepare(settings: Settings) -> None:
    """In ``python -m worker``, before the pool forks and before anything imports
    ``prometheus_client``: multiprocess mode for this worker's processes, when it serves
    metrics at all."""
    if settings.metrics.port:
        path = use_multiprocess_dir("worker")
        log.info("metrics: multiprocess directory %s", path)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would drown the worker log


def metrics_app(settings: Settings) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app answering ``GET /metrics`` with this worker's recorded metrics."""
    # Here, not at the top: `python -m worker` imports this module before prepare() has set
    # PROMETHEUS_MULTIPROC_DIR, and prometheus_client must not be imported before that.
    from ocelot.metrics import render, scrape_registry

    registry = scrape_registry()  # reads every process's files at each scrape

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") not in ("/metrics", "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: the metrics are at /metrics\n"]
        if not settings.metrics.allows(environ.get("HTTP_AUTHORIZATION")):
            start_response(
                "401 Unauthorized",
                [
                    ("Content-Type", "text/plain"),
                    ("WWW-Authenticate", 'Bearer realm="ocelot metrics"'),
                ],
            )
            return [b"a bearer token is needed to read the metrics (OCELOT_METRICS_TOKEN)\n"]
        body, content_type = render(registry, environ.get("HTTP_ACCEPT"))
        start_response("200 OK", [("Content-Type", content_type)])
        return [body]

    return app


def start(settings: Settings) -> WSGIServer | None:
    """Serve the metrics in a daemon thread, when ``OCELOT_METRICS_PORT`` asks for it. A port
    that cannot be had is logged, never fatal: the worker still runs builds."""
    config = settings.metrics
    if not config.port:
        return None
    if not multiprocess_dir():
        log.warning(
            "metrics: PROMETHEUS_MULTIPROC_DIR is not set (started without `python -m "
            "worker`?): what the pool's processes record is not served"
        )
    try:
        server = make_server(
            config.addr,
            config.port,
            metrics_app(settings),
            server_class=_Server,
            handler_class=_QuietHandler,
        )
    except OSError as exc:
        log.error("metrics: cannot listen on %s:%s: %s", config.addr, config.port, exc)
        return None
    threading.Thread(target=server.serve_forever, name="ocelot-metrics", daemon=True).start()
    log.info("metrics: serving on http://%s:%s/metrics", config.addr, config.port)
    return server
