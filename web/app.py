"""Flask app factory: ``create_app(settings=None)``.

Blueprints: ``api`` (/api/v1, bearer tokens), ``health`` (/healthz, /readyz). The app holds
one DB engine and one Redis client in ``app.extensions["ocelot"]``.
"""

from __future__ import annotations

import redis
from celery import Celery
from flask import Flask

from ocelot.db import make_engine
from ocelot.settings import Settings, load_settings
from web.errors import register_error_handlers
from worker.app import make_celery, send_route


class Services:
    """What views share: settings, the DB engine, Redis, and how to enqueue a build."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.redis = redis.Redis.from_url(settings.broker_url)
        self._celery: Celery | None = None

    def enqueue(self, build_id: int) -> None:
        """Wake the pipeline for a committed build (by task name: web never runs tasks)."""
        send_route(self.celery(), build_id)

    def celery(self) -> Celery:
        if self._celery is None:
            self._celery = make_celery(self.settings)
        return self._celery

    def report_to_forge(self, build_id: int) -> None:
        """Ask a worker to report the build's state on its commit (held, declined)."""
        self.celery().send_task("ocelot.forge.status", args=[build_id], queue="forge")

    def announce_end(self, build_id: int, status: str) -> None:
        """A build that ended without a worker (declined): tell followers and the forge."""
        from ocelot.logstream import publish_end

        publish_end(self.redis, build_id, status)
        self.report_to_forge(build_id)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["ocelot"] = Services(settings)

    from web.api import api
    from web.health import health

    app.register_blueprint(api)
    app.register_blueprint(health)
    from web.hooks import hooks

    app.register_blueprint(hooks)
    register_error_handlers(app)
    return app


def services() -> Services:
    from flask import current_app

    return current_app.extensions["ocelot"]  # type: ignore[no-any-return]
