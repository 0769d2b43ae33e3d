"""Celery signal handlers: per-process resets after fork, and worker start-up logging."""

from __future__ import annotations

import logging

from celery.signals import worker_process_init, worker_ready

from ocelot.db import dispose_engines
from worker.context import reset_context

log = logging.getLogger("ocelot.worker")


@worker_process_init.connect
def _after_fork(**_: object) -> None:
    dispose_engines()
    reset_context()


@worker_ready.connect
def _ready(sender: object = None, **_: object) -> None:
    log.info("ocelot worker ready")
