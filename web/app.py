"""Flask app factory: ``create_app(settings=None)``.

Blueprints: ``api`` (/api/v1, bearer tokens), ``health`` (/healthz, /readyz), ``hooks``
(/hooks/<forge>), ``dashboard`` (/, /login, /builds/<id>, /badge/...: pages for people,
signed-in by a session cookie). The app holds one :class:`~web.extensions.Services` (DB
engine, Redis client, publisher) in ``app.extensions["ocelot"]``; this module only builds the
app.

Sessions are signed with a key from ``OCELOT_SECRET_KEY`` or ``$OCELOT_HOME/session-key``
(``web/dashboard/auth.py``). Every form and write of the dashboard needs a CSRF token
(Flask-WTF); ``/api/v1`` and ``/hooks`` are exempt: they authenticate every request by a
bearer token or a signature, never by a cookie.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from ocelot.settings import Settings, load_settings
from web.api import api
from web.dashboard import dashboard
from web.dashboard.auth import session_secret
from web.errors import register_error_handlers
from web.extensions import EXTENSION, Services
from web.health import health
from web.hooks import hooks
from web.metrics import metrics


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config.update(
        SECRET_KEY=session_secret(settings),
        SESSION_COOKIE_NAME="ocelot_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.lower().startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(days=7),
        # A build page may stay open for hours: the token lives as long as the session.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = Services(settings)
    csrf = CSRFProtect()
    csrf.exempt(api)
    csrf.exempt(hooks)
    csrf.init_app(app)
    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(hooks)
    app.register_blueprint(dashboard)
    app.register_blueprint(metrics)
    register_error_handlers(app)
    return app
