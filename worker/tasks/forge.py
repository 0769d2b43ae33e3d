"""Forge reports on their own ``forge`` queue: commit status and the PR comment.

    prepare (claimed) ──┐  announced, dispatched when the task ends (worker/signals.py)
    finish / reaper ────┴─> ocelot.forge.status(build_id)
                            ocelot.forge.comment(build_id)   (PR builds)

Publishing only sends ids, so a forge outage can neither delay nor fail a build. Each task
reads the build's current status (idempotent, never backwards) and retries retryable
failures (connection errors, 5xx, 429) with the tasks' one retry policy
(:data:`worker.base.POLICY`: exponential backoff with jitter), up to :data:`MAX_RETRIES`;
anything else (no token, 4xx) is logged and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ocelot import queues
from ocelot.db import session_scope
from ocelot.errors import NotFound, OcelotError
from ocelot.forges import Forge
from ocelot.services import forge_reports
from ocelot.settings import Settings
from worker.app import app
from worker.base import POLICY, OcelotTask

log = logging.getLogger(__name__)

MAX_RETRIES = 8
Report = Callable[[Session, Settings, int, Forge | None], object]
REPORTS: dict[str, Report] = {
    "status": forge_reports.set_status,
    "comment": forge_reports.update_comment,
}


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
        delay = POLICY.next_delay(retries, MAX_RETRIES) if exc.details.get("retryable") else None
        if delay is not None:
            log.warning("forge %s of build %s: %s", kind, build_id, exc.message)
            return delay
        log.error("forge %s of build %s dropped: %s", kind, build_id, exc.message)
    except Exception:
        log.exception("forge %s of build %s failed", kind, build_id)
    return None


def _run(task: OcelotTask, kind: str, build_id: int) -> None:
    ctx = task.ctx
    delay = attempt(kind, ctx.engine, ctx.settings, build_id, task.request.retries)
    if delay is not None:
        raise task.retry(countdown=delay)


@app.task(name=queues.FORGE_STATUS, bind=True, max_retries=MAX_RETRIES)
def status(self: OcelotTask, build_id: int) -> None:
    _run(self, "status", build_id)


@app.task(name=queues.FORGE_COMMENT, bind=True, max_retries=MAX_RETRIES)
def comment(self: OcelotTask, build_id: int) -> None:
    _run(self, "comment", build_id)
