"""Polling on Celery beat: ``ocelot.polls.run_due`` every 30 s sends ``ocelot.polls.run`` for
each poll whose cron time has come; that task fetches, compares heads and queues builds, then
(after its commit) publishes their pipelines. The claim inside :func:`run_poll` makes a
duplicate message a no-op."""

from __future__ import annotations

import logging

from ocelot.db import session_scope
from ocelot.services import polls
from worker.app import app, send_route
from worker.context import get_context

log = logging.getLogger(__name__)


@app.task(name="ocelot.polls.run_due")
def run_due() -> list[int]:
    settings = app.conf.ocelot_settings
    with session_scope(get_context(settings).engine) as session:
        due = polls.due_polls(session)
    for poll_id in due:
        app.send_task("ocelot.polls.run", args=[poll_id], queue="control", expires=300)
    return due


@app.task(name="ocelot.polls.run")
def run(poll_id: int) -> list[int]:
    settings = app.conf.ocelot_settings
    build_ids = polls.run_poll(get_context(settings).engine, settings, poll_id)
    for build_id in build_ids:
        send_route(app, build_id)
    if build_ids:
        log.info("poll %s queued builds %s", poll_id, build_ids)
    return build_ids
