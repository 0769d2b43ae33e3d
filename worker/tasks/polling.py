"""Polling on Celery beat: ``ocelot.polls.run_due`` every 30 s sends ``ocelot.polls.run`` for
each poll whose cron time has come; that task fetches, compares heads and queues builds, then
(after its commit) publishes their pipelines. The claim inside :func:`run_poll` makes a
duplicate message a no-op."""

from __future__ import annotations

import logging

from ocelot import queues
from ocelot.db import session_scope
from ocelot.services import polls
from worker.app import app
from worker.base import OcelotTask

log = logging.getLogger(__name__)


@app.task(name=queues.POLLS_RUN_DUE, bind=True)
def run_due(self: OcelotTask) -> list[int]:
    with session_scope(self.ctx.engine) as session:
        due = polls.due_polls(session)
    for poll_id in due:
        queues.send_poll(app, poll_id)
    return due


@app.task(name=queues.POLLS_RUN, bind=True)
def run(self: OcelotTask, poll_id: int) -> list[int]:
    build_ids = polls.run_poll(self.ctx.engine, self.settings, poll_id)
    for build_id in build_ids:
        queues.send_route(app, build_id)
    if build_ids:
        log.info("poll %s queued builds %s", poll_id, build_ids)
    return build_ids
