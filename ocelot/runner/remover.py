"""Clean-up off the critical path: ``finish`` hands a build's removal to a background thread.

Removing a Docker build's containers and volume takes ~100 ms of daemon calls. ``finish`` ran
it inline, after the status was final, so the worker slot (its prefork process) took its next
build ~100 ms later. In a worker process (:func:`enable`, called after the fork) removals go to
one daemon thread of that process instead, fed by a queue, and the process returns to Celery
at once; outside a worker (tools, tests driving the runner) they stay inline.

Why a thread of the pool process and not a task or the main process: no Celery hop, no
message to lose, no second process to feed across a fork, and the executor is the one the
process already has. A process that exits while removals are queued drains them first
(:func:`drain`, from ``worker_process_shutdown``); a process killed before that leaves the
containers to the janitor, which removes every container and volume of an attempt that is no
longer running (:func:`ocelot.runner.leftovers.clean`), claimed warm containers included.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Job = Callable[[], None]

_jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_pid = 0
_pending = 0
_lock = threading.Lock()
_idle = threading.Condition(_lock)


def enable() -> None:
    """Run later removals in this process's background thread (a worker process)."""
    global _thread, _pid, _jobs, _pending
    if _thread is not None and _pid == os.getpid():
        return
    _jobs, _pending, _pid = queue.SimpleQueue(), 0, os.getpid()  # nothing crosses a fork
    _thread = threading.Thread(target=_run, name="ocelot-remover", daemon=True)
    _thread.start()


def disable(timeout: float = 30.0) -> None:
    """Finish what is queued, then run removals inline again (tests)."""
    global _thread
    if enabled():
        drain(timeout)
        _jobs.put(None)
        _thread = None


def enabled() -> bool:
    return _thread is not None and _pid == os.getpid()


def submit(job: Job, what: str) -> None:
    """Run ``job`` (which logs its own failures) in the background if enabled, else now."""
    global _pending
    if not enabled():
        job()
        return
    with _lock:
        _pending += 1
    log.debug("queued the removal of %s", what)
    _jobs.put(job)


def drain(timeout: float = 30.0) -> bool:
    """Wait until the queued removals are done (a process about to exit); True if they are."""
    if not enabled():
        return True
    deadline = time.monotonic() + timeout
    with _idle:
        while _pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _idle.wait(left)
    return True


def _run() -> None:
    global _pending
    while True:
        job = _jobs.get()
        if job is None:
            return
        try:
            job()
        except Exception:  # the janitor removes what is left
            log.exception("background removal failed")
        finally:
            with _idle:
                _pending -= 1
                _idle.notify_all()
