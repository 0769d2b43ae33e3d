"""Notification tasks, on their own ``notify`` queue so a slow Slack or SMTP server never
holds up a build's chain.

    finish / reaper ──(RunContext.on_finished)──> ocelot.notify.build(build_id)
        ──> ocelot.notify.send(build_id, "slack" | "email")   one per due channel

The hook runs after the build's final status is committed and only publishes a message, so a
notification can neither delay nor fail a build. ``send`` retries transport errors with
exponential backoff (about 1, 2, 4, 8, 16 s with jitter, 5 retries) and records each attempt;
it is idempotent per ``(build, channel)``, so a redelivered or duplicated message never posts
twice after a success (see :mod:`ocelot.services.notifications`). The messages carry ids
only: no credential ever travels through the broker.
"""

from __future__ import annotations

import logging

from celery import Task

from ocelot.db import session_scope
from ocelot.notifiers.base import TransientNotifierError
from ocelot.services import notifications
from worker.app import app
from worker.context import get_context

log = logging.getLogger(__name__)

QUEUE = "notify"
MAX_RETRIES = 5


def enqueue(build_id: int) -> None:
    """Ask for the notices of a finished build (called after the status is committed)."""
    app.send_task("ocelot.notify.build", args=[build_id], queue=QUEUE)


@app.task(name="ocelot.notify.build")
def notify_build(build_id: int) -> list[str]:
    """Fan out: one ``send`` per channel whose ``on`` list matches the build's events."""
    ctx = get_context(app.conf.ocelot_settings)
    with session_scope(ctx.engine) as session:
        channels = notifications.due_channels(session, build_id)
    for channel in channels:
        send.apply_async((build_id, channel), queue=QUEUE)
    return channels


@app.task(
    name="ocelot.notify.send",
    bind=True,
    autoretry_for=(TransientNotifierError,),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def send(self: Task, build_id: int, channel: str) -> str:
    """Deliver one channel's notice; raises (and is retried) on transport errors."""
    ctx = get_context(app.conf.ocelot_settings)
    final = self.request.retries >= MAX_RETRIES
    result = notifications.deliver(ctx.engine, ctx.settings, build_id, channel, final=final)
    return result.outcome
