"""The control pool: each host's small second Celery worker for route and maintenance.

One Celery worker has one pool, and the stage pool of ``python -m worker`` is sized for
builds (``--concurrency=OCELOT_MAX_BUILDS``): with every slot in a long stage, the reaper, the
reconciler, the janitor and route waited behind it (the reaper fired 26 s after a kill
instead of ~9 s). So ``python -m worker`` stays one command per host, and its main process,
once ready, starts and supervises a second, small worker process, ``python -m worker
control-pool``: Celery hostname ``ocelot-control@<name>``, prefork pool of :data:`CONCURRENCY`,
consuming only ``control`` (route, polls, discovery) and ``maintenance`` (reap, reconcile,
janitor from beat); the stage pool no longer consumes either. Kombu's Redis transport
takes from its queues in turn, so a backlog of routes does not starve the reaper.

The control process is not a worker of its own: it does not register in the workers
registry (``python -m worker`` registers once, for both), holds no build container
(:mod:`ocelot.executors.deadman`), cleans nothing up at start and hands no build back when
it stops (``worker/signals.py`` asks :func:`is_control_process`). The main process restarts
it when it exits (backoff 1 s doubling to 30 s) and stops it (SIGTERM, then SIGKILL) when the
worker shuts down; the control process ends itself when its parent is gone (SIGKILL of the
main process alone), so it never outlives its worker.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from typing import Any

log = logging.getLogger("ocelot.worker.control")

ROLE = "ocelot_role"  # the key of this process's role in the Celery app's conf
CONTROL = "control-pool"  # the argument of `python -m worker` that starts one
CONCURRENCY = 2  # route may fetch a mirror while a reap runs
_PARENT_ENV = "OCELOT_CONTROL_PARENT"


def is_control_process(conf: Any) -> bool:
    """Is this the control pool's process (not the stage pool's)?"""
    return bool(conf.get(ROLE) == CONTROL)


def watch_parent() -> None:
    """In the control process: end (warm shutdown) once the worker that started it is gone."""
    parent = int(os.environ.get(_PARENT_ENV) or 0)
    if not parent:
        return

    def watch() -> None:
        halt = threading.Event()
        while not halt.wait(1.0):
            if os.getppid() != parent:
                log.warning("control pool: its worker (pid %s) is gone; stopping", parent)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="ocelot-control-parent", daemon=True).start()


class ControlPool:
    """The main process's handle on the control process: start, restart, stop."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="ocelot-control-pool")
        self._thread.daemon = True

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, _PARENT_ENV: str(os.getpid())}
        return subprocess.Popen([sys.executable, "-m", "worker", CONTROL, *self.argv], env=env)

    def _supervise(self) -> None:
        delay = 1.0
        while not self._halt.is_set():
            self.proc = self._spawn()
            log.info("control pool started (pid %s)", self.proc.pid)
            code = self.proc.wait()
            if self._halt.is_set():
                return
            log.error("control pool exited with %s; starting it again in %.0fs", code, delay)
            self._halt.wait(delay)
            delay = min(30.0, delay * 2)

    def stop(self, timeout: float = 30.0) -> None:
        """Warm shutdown of the control process (its running tasks end), SIGKILL after
        ``timeout``. Never raises."""
        self._halt.set()
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.terminate()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        except OSError:
            pass


_pool: ControlPool | None = None


def start(argv: list[str]) -> None:
    """Start this worker's control pool (once), with the extra Celery arguments ``argv``."""
    global _pool
    if _pool is None:
        _pool = ControlPool(argv)
        _pool.start()


def stop() -> None:
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        pool.stop()
