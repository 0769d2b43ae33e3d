"""The production entry point (``gunicorn web.wsgi:app``): wait for the database and Redis,
then build the app. Tests call :func:`web.create_app` directly."""

from __future__ import annotations

import logging
import sys

from ocelot.dependencies import wait_for_dependencies
from ocelot.errors import DependencyUnavailable
from ocelot.settings import load_settings
from web.app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
_settings = load_settings()
try:
    wait_for_dependencies(_settings, ["database", "redis", "vault"], _settings.dependency_timeout)
except DependencyUnavailable as exc:
    print(f"ocelot web: {exc.message}", file=sys.stderr)
    sys.exit(3)
app = create_app(_settings)
