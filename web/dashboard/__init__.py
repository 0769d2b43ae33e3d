"""The web dashboard: server-rendered pages for people, signed in with an API token.

Routes (no prefix): ``/login``, ``/logout``, ``/`` (repositories and their last builds),
``/builds/<id>`` (header, stages, log, live tail by Server-Sent Events, actions), the public
``/badge/<acct>/<repo>.svg`` (all in ``views.py``), and ``/repos/<acct>/<name>`` (builds,
build now, charts, deliveries) and ``/queue`` (in ``pages.py``). Sign-in and sessions are in
``auth.py``, the blueprint object in ``blueprint.py``. Every form carries a CSRF token
(Flask-WTF's ``CSRFProtect``, set up in ``web/app.py``); actions need the role the REST API
needs for them (``build``).
"""

from __future__ import annotations

from web.dashboard import pages, views  # noqa: F401 - routes register on import
from web.dashboard.blueprint import dashboard

__all__ = ["dashboard"]
