"""Flask app factory: ``create_app(settings=None)``.

Blueprints: ``api`` (/api/v1, bearer tokens), ``health`` (/healthz, /readyz), ``hooks``
(/hooks/<forge>). The app holds one :class:`~web.extensions.Services` (DB engine, Redis
client, publisher) in ``app.extensions["ocelot"]``; this module only builds the app.
"""

from __future__ import annotations

from flask import Flask

from ocelot.settings import Settings, load_settings
from web.api import api
from web.errors import register_error_handlers
from web.extensions import EXTENSION, Services
from web.health import health
from web.hooks import hooks


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = Services(settings)
    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(hooks)
    register_error_handlers(app)
    return app
