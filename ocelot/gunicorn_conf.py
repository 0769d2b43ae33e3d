"""gunicorn settings for the web app (``gunicorn --config python:ocelot.gunicorn_conf ...``,
the Procfile's ``web``): multiprocess metrics for its worker processes.

Each gunicorn worker is a process of its own: without a shared directory, ``/metrics`` would
show only the counters of whichever worker answered. The master, which forks the workers,
points them all at one directory before the first fork (:func:`on_starting`), and forgets a
dead worker's live gauges (:func:`child_exit`). It lives in ``ocelot``, not ``web``, because
importing anything of ``web`` would import ``prometheus_client`` in the master before that
directory is set (``web/__init__.py`` builds the app's modules).
"""

from __future__ import annotations

from typing import Any

from ocelot.metrics_setup import use_multiprocess_dir


def on_starting(server: Any) -> None:
    use_multiprocess_dir("web")


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess  # after on_starting: in multiprocess mode

    multiprocess.mark_process_dead(worker.pid)
