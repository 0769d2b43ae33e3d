"""The worker's Celery app, built from the environment (``python -m worker``, and
``celery -A worker.app``): the one the task modules register on.

Only worker processes import this module: the web publishes through an app of its own
(``worker.factory.make_celery(settings)``), so importing ``web`` never builds this one.
"""

from __future__ import annotations

from worker.factory import TASK_MODULES, make_celery

app = make_celery()
app.set_current()  # the default app of this process (the worker's, not a publisher's)

__all__ = ["TASK_MODULES", "app", "make_celery"]
