"""``GET /metrics``: the web app's Prometheus endpoint (docs/metrics.md).

It serves what the web processes recorded (webhook deliveries; with gunicorn, every worker
process's samples, added up from ``PROMETHEUS_MULTIPROC_DIR``: see
:mod:`ocelot.gunicorn_conf`) and what is computed at each scrape from the database and Redis
(:class:`ocelot.metrics_collectors.ScrapeCollector`: builds, queues, workers). The workers
serve their own recorded metrics on ``OCELOT_METRICS_PORT`` (:mod:`worker.metrics`).

Public like ``/healthz`` (nothing in it names a repository, a build or a person), unless
``OCELOT_METRICS_TOKEN`` is set: then only ``Authorization: Bearer <that token>`` reads it.
API tokens are not accepted here: a scraper's credential should open nothing else. The
``/api/v1`` role table (``web/auth.py``) does not apply to this route.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from ocelot.metrics import render, scrape_registry
from ocelot.metrics_collectors import ScrapeCollector
from web.extensions import services

metrics = Blueprint("metrics", __name__)


@metrics.get("/metrics")
def scrape() -> Response:
    svc = services()
    if not svc.settings.metrics.allows(request.headers.get("Authorization")):
        return Response(
            "a bearer token is needed to read the metrics (OCELOT_METRICS_TOKEN)\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="ocelot metrics"'},
        )
    registry = scrape_registry(ScrapeCollector(svc.engine, svc.redis))
    body, content_type = render(registry, request.headers.get("Accept"))
    return Response(body, status=200, content_type=content_type)
