"""The production entry point (``gunicorn web.wsgi:app``): wait for the database and Redis,
then build the app. Tests call :func:`web.create_app` directly."""

from __future__ import annotations

import gc
import logging
import sys

from ocelot.db import make_engine
from ocelot.dependencies import wait_for_dependencies
from ocelot.errors import DependencyUnavailable, SecretError
from ocelot.secrets import check_secret_store
from ocelot.settings import load_settings
from web.app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
_settings = load_settings()
try:
    wait_for_dependencies(_settings, ["database", "redis", "vault"], _settings.dependency_timeout)
    check_secret_store(_settings, make_engine(_settings))  # OCELOT_SECRET_KEY right?
except (DependencyUnavailable, SecretError) as exc:
    print(f"ocelot web: {exc.message}", file=sys.stderr)
    sys.exit(3)
app = create_app(_settings)
# What start-up made (modules, the app, SQLAlchemy's tables) lives as long as the process: keep
# it out of the collector's full passes, which otherwise walk it during a big request (the
# home page of 1,000 repositories: p95 150 ms with those pauses, 90 ms without; bench/).
gc.collect()
gc.freeze()
