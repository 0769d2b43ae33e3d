"""What the views share, kept in ``app.extensions["ocelot"]``: settings, the DB engine, Redis,
and how to publish to the workers. Views reach it through :func:`services`; nothing here
imports a view, so every module of ``web`` can import this one without a cycle.

Publishing goes through a Celery app built from *these* settings on first use (by task name,
:mod:`ocelot.queues`): the web never imports task code, and never builds the worker's app
from the environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

from ocelot import queues
from ocelot.db import make_engine
from ocelot.redis_client import make_redis
from ocelot.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

EXTENSION = "ocelot"


class Services:
    """What views share: settings, the DB engine, Redis, and how to enqueue a build."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.redis = make_redis(settings)  # follows the primary when the URL is sentinel://
        self._celery: Celery | None = None

    def celery(self) -> Celery:
        """The publishing app, built from these settings on first use."""
        if self._celery is None:
            from worker.factory import make_celery

            self._celery = make_celery(self.settings)
        return self._celery

    def enqueue(self, build_id: int) -> None:
        """Wake the pipeline for a committed build (by task name: web never runs tasks)."""
        queues.send_route(self.celery(), build_id)

    def report_to_forge(self, build_id: int) -> None:
        """Ask a worker to report the build's state on its commit (held, declined)."""
        queues.send_forge_report(self.celery(), build_id, comment=False)

    def announce_end(self, build_id: int, status: str) -> None:
        """A build that ended without a worker (declined): tell followers and the forge."""
        from ocelot.logstream import publish_end

        publish_end(self.redis, build_id, status)
        self.report_to_forge(build_id)


def services() -> Services:
    """The :class:`Services` of the current app."""
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]
