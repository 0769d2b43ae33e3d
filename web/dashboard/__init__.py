"""The web dashboard: server-rendered pages for people, signed in with an API token.

Routes (no prefix): ``/login``, ``/logout``, ``/`` (repositories and their last builds),
the actions on a build and the public ``/badge/<acct>/<repo>.svg`` (all in ``views.py``);
``/builds/<id>`` (header, stages, the log by stage with a live tail; ``build_page.py``);
``/repos/<acct>/<name>`` (builds, build now, charts, deliveries) and ``/queue`` (in
``pages.py``). Sign-in and sessions are in
``auth.py``, the blueprint object in ``blueprint.py``. Every form carries a CSRF token
(Flask-WTF's ``CSRFProtect``, set up in ``web/app.py``); actions need the role the REST API
needs for them (``build``).
"""

from __future__ import annotations

from web.dashboard import build_page, pages, views  # noqa: F401 - routes register on import
from web.dashboard.blueprint import dashboard

__all__ = ["dashboard"]
