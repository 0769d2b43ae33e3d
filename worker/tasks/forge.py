"""Forge reports on their own ``forge`` queue: commit status and the PR comment.

    prepare ──(RunContext.on_started)──┐
    finish / reaper ──(on_finished)────┴─> ocelot.forge.status(build_id)
                                           ocelot.forge.comment(build_id)   (PR builds)

The hooks only publish messages carrying ids, so a forge outage can neither delay nor fail a
build. Each task reads the build's current status (idempotent, never backwards) and retries
retryable failures (connection errors, 5xx, 429) with exponential backoff and jitter, up to
:data:`MAX_RETRIES`; anything else (no token, 4xx) is logged and dropped.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from celery import Task
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ocelot.db import session_scope
from ocelot.errors import NotFound, OcelotError
from ocelot.forges import Forge
from ocelot.services import forge_reports
from ocelot.settings import Settings
from worker.app import app
from worker.context import get_context

log = logging.getLogger(__name__)

QUEUE = "forge"
MAX_RETRIES = 8
Report = Callable[[Session, Settings, int, Forge | None], object]
REPORTS: dict[str, Report] = {
    "status": forge_reports.set_status,
    "comment": forge_reports.update_comment,
}


def enqueue(build_id: int) -> None:
    """Ask for the forge reports of a build (after its status change is committed)."""
    app.send_task("ocelot.forge.status", args=[build_id], queue=QUEUE)
    app.send_task("ocelot.forge.comment", args=[build_id], queue=QUEUE)


def backoff(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: 1, 2, 4, ... capped at 5 min, ±25 %."""
    base = min(300.0, 2.0**retries)
    return base * random.uniform(0.75, 1.25)


def attempt(
    kind: str,
    engine: Engine,
    settings: Settings,
    build_id: int,
    retries: int,
    forge: Forge | None = None,
) -> float | None:
    """Run one report; return the countdown to retry after, or None when done or dropped."""
    try:
        with session_scope(engine) as session:
            REPORTS[kind](session, settings, build_id, forge)
        return None
    except NotFound as exc:
        log.info("forge %s of build %s skipped: %s", kind, build_id, exc.message)
    except OcelotError as exc:
        if exc.details.get("retryable") and retries < MAX_RETRIES:
            delay = backoff(retries)
            log.warning("forge %s of build %s: %s; retry in %.0fs", kind, build_id, exc, delay)
            return delay
        log.error("forge %s of build %s dropped: %s", kind, build_id, exc.message)
    except Exception:
        log.exception("forge %s of build %s failed", kind, build_id)
    return None


def _run(task: Task, kind: str, build_id: int) -> None:
    settings = app.conf.ocelot_settings
    engine = get_context(settings).engine
    delay = attempt(kind, engine, settings, build_id, task.request.retries)
    if delay is not None:
        raise task.retry(countdown=delay, max_retries=MAX_RETRIES)


@app.task(name="ocelot.forge.status", bind=True, acks_late=True)
def status(self: Task, build_id: int) -> None:
    _run(self, "status", build_id)


@app.task(name="ocelot.forge.comment", bind=True, acks_late=True)
def comment(self: Task, build_id: int) -> None:
    _run(self, "comment", build_id)
