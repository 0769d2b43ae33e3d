"""Ocelot's Prometheus metrics: every metric that is *recorded* (where its event happens) is
defined here, with the one-line helpers the recording places call; docs/metrics.md lists them
all, with those the web app computes at scrape time (:mod:`ocelot.metrics_collectors`).

Rules kept here: names start with ``ocelot_``, counters end in ``_total``, durations are
histograms in seconds; labels take only values from a short fixed list (statuses, verdicts,
outcomes, forges, channels), never a build id or a repository name. A helper never raises:
a metric must not fail a build, a delivery or a notice.

Builds and stages are observed when the transaction that made their status final commits
(:func:`_when_committed`), so a rolled-back status is never counted. In multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, see :mod:`ocelot.metrics_setup`) each process writes its own
file and :func:`scrape_registry` adds them up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics import disable_created_metrics
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from ocelot.metrics_setup import multiprocess_dir

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from ocelot.models import Build, Stage

log = logging.getLogger("ocelot.metrics")

# ``_created`` series exist only in single-process mode; without them both modes look alike.
disable_created_metrics()

# Seconds: from a quick lint stage to a long release build.
DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
# Seconds: an idle fleet claims within a second; a busy one makes builds wait minutes.
WAIT_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

BUILD_QUEUE_WAIT = Histogram(
    "ocelot_build_queue_wait_seconds",
    "Time from a build being queued to a worker claiming it (observed at its first claim).",
    buckets=WAIT_BUCKETS,
)
BUILD_DURATION = Histogram(
    "ocelot_build_duration_seconds",
    "Time from a build's start to its end, by final status (builds that started only).",
    ["status"],
    buckets=DURATION_BUCKETS,
)
STAGE_DURATION = Histogram(
    "ocelot_stage_duration_seconds",
    "Time a stage ran, by its final status (stages that ran only, retries included).",
    ["status"],
    buckets=DURATION_BUCKETS,
)
WEBHOOK_DELIVERIES = Counter(
    "ocelot_webhook_deliveries",
    "Webhook deliveries of tracked repositories, by forge and verdict.",
    ["forge", "verdict"],
)
NOTIFICATION_ATTEMPTS = Counter(
    "ocelot_notification_attempts",
    "Attempts to deliver a Slack or email notice, by channel and outcome.",
    ["channel", "outcome"],
)
LOG_STORED_BYTES = Counter(
    "ocelot_log_stored_bytes",
    "Bytes of build log stored in the database (UTF-8, after masking).",
)

_PENDING = "ocelot.metrics.pending"  # Session.info key: observations waiting for the commit


def _guarded(what: str, observe: Callable[[], None]) -> None:
    try:
        observe()
    except Exception:  # a metric must never fail the work it measures
        log.exception("could not record metric %s", what)


def _when_committed(row: object, what: str, observe: Callable[[], None]) -> None:
    """Run ``observe`` once the transaction holding ``row`` commits (never if it rolls back);
    at once when ``row`` belongs to no session."""
    session = object_session(row)
    if session is None:
        _guarded(what, observe)
        return
    session.info.setdefault(_PENDING, []).append((what, observe))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for what, observe in session.info.pop(_PENDING, ()):
        _guarded(what, observe)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())  # hosts' clocks may disagree a little


# -- the recording places call these ---------------------------------------------------------


def build_claimed(build: Build) -> None:
    """A worker claimed ``build`` (``ocelot.runner.prepare.claim``): its queue wait, once per
    build (later attempts keep the first ``started_at``)."""
    wait = _seconds(build.queued_at, build.started_at)
    if build.attempt == 1 and wait is not None:
        _when_committed(build, "queue wait", lambda: BUILD_QUEUE_WAIT.observe(wait))


def build_finished(build: Build) -> None:
    """``build`` reached a final status (``ocelot.lifecycle.move``): its duration, when it
    had started."""
    took, status = _seconds(build.started_at, build.finished_at), str(build.status)
    if took is not None:
        _when_committed(
            build, "build duration", lambda: BUILD_DURATION.labels(status=status).observe(took)
        )


def stage_finished(stage: Stage) -> None:
    """``stage`` ran and its status is final (``ocelot.runner.stage``): its duration."""
    took, status = _seconds(stage.started_at, stage.finished_at), str(stage.status)
    if took is not None:
        _when_committed(
            stage, "stage duration", lambda: STAGE_DURATION.labels(status=status).observe(took)
        )


def webhook_delivery(forge: str, verdict: str) -> None:
    """A delivery was judged (``web/hooks.py``): ``verdict`` is a DeliveryVerdict."""
    _guarded(
        "webhook delivery",
        lambda: WEBHOOK_DELIVERIES.labels(forge=forge, verdict=str(verdict)).inc(),
    )


def notification_attempt(channel: str, outcome: str) -> None:
    """An attempt to send a notice ended (``ocelot.services.notifications``): ``outcome`` is a
    NotificationOutcome (sent, retrying, failed)."""
    _guarded(
        "notification attempt",
        lambda: NOTIFICATION_ATTEMPTS.labels(channel=channel, outcome=str(outcome)).inc(),
    )


def log_stored(text: str) -> None:
    """A chunk of log was stored (``ocelot.logstream``)."""
    _guarded("log bytes", lambda: LOG_STORED_BYTES.inc(len(text.encode("utf-8", "replace"))))


# -- exposition ------------------------------------------------------------------------------


class _ThisProcess(Collector):
    """Single-process mode: the metrics of this process's default registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry(*extra: Collector) -> CollectorRegistry:
    """What a scrape reads: the recorded metrics (every process's files in multiprocess mode,
    else this process's own), then ``extra`` (collectors computed at scrape time)."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_ThisProcess())
    for collector in extra:
        registry.register(collector)
    return registry


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The exposition of ``registry`` in the format the scraper accepts (Prometheus text by
    default, OpenMetrics when asked): ``(body, content type)``."""
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type
