"""Metrics the web app computes when it is scraped, from the database and Redis: builds by
status and trigger, workers and their capacity in use (the workers registry), and the messages
waiting in each Celery queue.

One scrape makes the same few statements whatever the number of builds: one grouped count of
the builds, one list of the machine tags queued builds wait for, and the registry's two
(:func:`ocelot.services.workers.list_workers`); then one Redis pipeline of ``LLEN``. A part
that fails (database or Redis down) is left out of the answer and logged, and
``ocelot_scrape_collector_success`` says which: the rest is still served.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ocelot import queues
from ocelot.db import session_scope
from ocelot.models import Build
from ocelot.models.build import TRIGGERS
from ocelot.services.workers import WorkerView, list_workers
from ocelot.status import BuildStatus, WorkerState

log = logging.getLogger("ocelot.metrics")

# kombu's Redis transport keeps a queue's messages of priority 3, 6 and 9 under keys of
# their own: ``<queue>\x06\x16<priority>`` (priority 0, the default, is the queue's name).
_PRIORITY_SEP = "\x06\x16"
_PRIORITIES = (3, 6, 9)
# Queues that exist whatever workers are registered.
_ALWAYS = (queues.CONTROL, queues.BUILDS, queues.NOTIFY, queues.FORGE)


def queue_keys(queue: str) -> list[str]:
    """Every Redis list holding messages of ``queue``."""
    return [queue, *(f"{queue}{_PRIORITY_SEP}{p}" for p in _PRIORITIES)]


def queue_names(workers: list[WorkerView], waiting_tags: list[str]) -> list[str]:
    """The queues to measure: the fixed ones, every queue a registered worker consumes (its
    own, its tags'), and the machine-tag queues that queued builds wait on (even when no
    worker serves that tag: the queue that grows then is the one to see)."""
    names = set(_ALWAYS)
    for worker in workers:
        docker = worker.executor == "docker"
        names.update(queues.worker_queues(worker.name, docker, worker.tags))
    names.update(queues.builds_queue(tag) for tag in waiting_tags)
    return sorted(names)


class ScrapeCollector(Collector):
    """The scrape-time metrics of one installation (see the module docstring)."""

    def __init__(self, engine: Engine, redis: Any) -> None:
        self.engine = engine
        self.redis = redis

    def collect(self) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "ocelot_scrape_collector_success",
            "Whether a part of this scrape could be read (1) or not (0: see the web log).",
            labels=["collector"],
        )
        workers: list[WorkerView] = []
        waiting_tags: list[str] = []
        try:
            with session_scope(self.engine) as session:
                counts = session.execute(
                    select(Build.status, Build.trigger, func.count()).group_by(
                        Build.status, Build.trigger
                    )
                ).all()
                waiting_tags = list(
                    session.scalars(
                        select(Build.machine_tag)
                        .where(Build.status == BuildStatus.QUEUED, Build.machine_tag.is_not(None))
                        .distinct()
                    )
                )
                workers = list_workers(session)
            yield _builds(counts)
            yield from _workers(workers)
            success.add_metric(["database"], 1)
        except Exception:  # the rest of the scrape is still worth serving
            log.exception("metrics: could not read the database")
            success.add_metric(["database"], 0)
        try:
            yield self._queues(queue_names(workers, waiting_tags))
            success.add_metric(["redis"], 1)
        except Exception:  # as above
            log.exception("metrics: could not read the queue lengths from Redis")
            success.add_metric(["redis"], 0)
        yield success

    def _queues(self, names: list[str]) -> GaugeMetricFamily:
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            for key in queue_keys(name):
                pipe.llen(key)
        lengths = pipe.execute()
        per_queue = len(_PRIORITIES) + 1
        family = GaugeMetricFamily(
            "ocelot_queue_messages",
            "Messages waiting in a Celery queue (Redis LLEN, all priorities), not yet taken "
            "by a worker.",
            labels=["queue"],
        )
        for i, name in enumerate(names):
            family.add_metric([name], sum(lengths[i * per_queue : (i + 1) * per_queue]))
        return family


def _builds(counts: Sequence[Any]) -> GaugeMetricFamily:
    """``ocelot_builds``, every known status and trigger present (0 when none), so an alert on
    ``ocelot_builds{status="QUEUED"}`` has a series to read before the first build."""
    found = {(str(status), str(trigger)): int(n) for status, trigger, n in counts}
    keys = {(str(s), t) for s in BuildStatus for t in TRIGGERS} | set(found)
    family = GaugeMetricFamily(
        "ocelot_builds",
        "Builds in the database, by status and trigger.",
        labels=["status", "trigger"],
    )
    for status, trigger in sorted(keys):
        family.add_metric([status, trigger], found.get((status, trigger), 0))
    return family


def _workers(workers: list[WorkerView]) -> Iterator[GaugeMetricFamily]:
    states = GaugeMetricFamily(
        "ocelot_workers",
        "Registered workers, by state (alive, lost, stopped).",
        labels=["state"],
    )
    for state in WorkerState:
        states.add_metric([str(state)], sum(1 for w in workers if w.state == state))
    capacity = GaugeMetricFamily(
        "ocelot_worker_capacity",
        "Builds an alive worker runs at once (OCELOT_MAX_BUILDS).",
        labels=["worker"],
    )
    running = GaugeMetricFamily(
        "ocelot_worker_builds_running",
        "Builds an alive worker is running now (its capacity in use).",
        labels=["worker"],
    )
    for worker in workers:
        if worker.state == WorkerState.ALIVE:
            capacity.add_metric([worker.name], worker.capacity)
            running.add_metric([worker.name], len(worker.running))
    yield states
    yield capacity
    yield running
