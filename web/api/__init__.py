"""The REST API under ``/api/v1`` (see docs/rest-api.md). Every route needs a bearer token,
and a token whose role is too small for the route gets 403 (the table is in web/auth.py).
The blueprint and its token check are in ``web/api/blueprint.py``."""

from __future__ import annotations

from web.api import (  # noqa: F401 - routes register on import
    builds,
    creds,
    discovery,
    hooks_admin,
    logs,
    meta,
    polls,
    repos,
    subscriptions,
    tokens,
    workers,
)
from web.api.blueprint import api

__all__ = ["api"]
