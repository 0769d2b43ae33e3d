"""Integration tier: a real Redis, real Celery worker processes, a real Docker daemon, real
git repositories and a real (SQLite) database, all started here and stopped by pid.

The session's shared ``stack``, ``docker_worker`` and ``repo_dir`` fixtures live in
``tests/conftest.py``: tests/security uses the same stack, and two stacks on one Redis
database would consume each other's task messages."""

from __future__ import annotations

from tests.integration.browser import browser, open_page, read_token  # noqa: F401 - fixtures
from tests.stack import Stack, make_repo

__all__ = ["Stack", "make_repo"]
