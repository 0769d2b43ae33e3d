"""The worker's place in the workers registry while it runs: a heartbeat thread.

``python -m worker`` registers the worker before Celery starts (``worker/__main__.py``:
:func:`ocelot.services.workers.register`, exit 3 when the name is taken) and leaves the boot
id in ``app.conf`` under :data:`BOOT_ID`. Then, in the worker's main process
(``worker/signals.py``):

* ``worker_ready`` → :func:`start`: a daemon thread refreshes ``last_seen_at`` every
  ``OCELOT_WORKER_HEARTBEAT`` seconds. A database error is logged and the next tick tries
  again. When the row no longer belongs to this boot (another start took the name while
  this one could not beat, or the row was removed), the thread takes the name back if it is
  free, and otherwise logs an error on every tick: two workers with one name take each
  other's messages. Builds are never touched from here.
* ``worker_shutting_down`` → :func:`stop`: the thread ends and the row is marked stopped,
  which frees the name at once.

The pool processes are forked before ``worker_ready``, so none of them runs the thread.
"""

from __future__ import annotations

import logging
import threading

from ocelot.db import make_engine, session_scope
from ocelot.errors import WorkerNameTaken
from ocelot.services import workers
from ocelot.settings import Settings

log = logging.getLogger("ocelot.worker.registry")

BOOT_ID = "ocelot_boot_id"  # the key of this start's boot id in the Celery app's conf


class Heartbeat:
    """The heartbeat of one boot of one worker, on a daemon thread."""

    def __init__(self, settings: Settings, boot_id: str) -> None:
        self.settings = settings
        self.boot_id = boot_id
        self._halt = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"ocelot-heartbeat-{settings.worker_name}", daemon=True
        )

    @property
    def name(self) -> str:
        return self.settings.worker_name

    def start(self) -> None:
        self._thread.start()

    def beat(self) -> bool:
        """One heartbeat; True when the row is (again) this boot's. Never raises."""
        engine = make_engine(self.settings)
        try:
            with session_scope(engine) as session:
                if workers.heartbeat(session, self.name, self.boot_id):
                    return True
            with session_scope(engine) as session:  # not ours: take it back if it is free
                workers.register(session, self.settings, self.boot_id)
            log.warning(
                "worker %s: its registry row had been taken over or removed; registered again",
                self.name,
            )
            return True
        except WorkerNameTaken as exc:
            log.error(
                "worker %s: ANOTHER WORKER HOLDS THIS NAME while this one runs (its stage "
                "messages may go to either); stop one of them. %s",
                self.name,
                exc.message,
            )
        except Exception:  # the database may be restarting: try again at the next tick
            log.exception(
                "worker %s: heartbeat failed; trying again in %.1fs",
                self.name,
                self.settings.worker_heartbeat,
            )
        return False

    def _run(self) -> None:
        while not self._halt.is_set():
            self.beat()
            self._halt.wait(self.settings.worker_heartbeat)

    def stop(self) -> None:
        """End the thread, then mark this boot stopped. Never raises."""
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.settings.worker_heartbeat + 10)
        try:
            with session_scope(make_engine(self.settings)) as session:
                workers.stopped(session, self.name, self.boot_id)
        except Exception:  # it will show as lost once its heartbeats are missed
            log.exception("worker %s: could not mark it stopped in the registry", self.name)


_current: Heartbeat | None = None


def start(settings: Settings, boot_id: str | None) -> None:
    """Start this process's heartbeat (once); without a boot id the worker was not started
    by ``python -m worker`` and is not registered: say so and do nothing."""
    global _current
    if _current is not None:
        return
    if not boot_id:
        log.warning(
            "worker %s is not in the workers registry (start it with `python -m worker`)",
            settings.worker_name,
        )
        return
    _current = Heartbeat(settings, boot_id)
    _current.start()
    log.info(
        "worker %s: registry heartbeat every %.1fs", settings.worker_name, settings.worker_heartbeat
    )


def stop() -> None:
    """Stop this process's heartbeat and mark the worker stopped (no-op when none runs)."""
    global _current
    current, _current = _current, None
    if current is not None:
        current.stop()
