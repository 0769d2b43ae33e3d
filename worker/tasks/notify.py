"""Notification tasks, on their own ``notify`` queue so a slow Slack or SMTP server never
holds up a build's chain.

    finish / reaper (announced) ──> ocelot.notify.build(build_id)
        ──> ocelot.notify.send(build_id, "slack" | "email")   one per due channel

The announcement is dispatched after the build's final status is committed, when the task
that committed it ends (``worker/signals.py``), and only publishes a message, so a
notification can neither delay nor fail a build. ``send`` retries transport errors with the
tasks' one retry policy (:data:`worker.base.POLICY`: about 1, 2, 4, 8, 16 s with jitter,
:data:`MAX_RETRIES` retries) and records each attempt; it is idempotent per
``(build, channel)``, so a redelivered or duplicated message never posts twice after a
success (see :mod:`ocelot.services.notifications`). The messages carry ids only: no
credential ever travels through the broker.
"""

from __future__ import annotations

from ocelot import queues
from ocelot.db import session_scope
from ocelot.notifiers.base import TransientNotifierError
from ocelot.services import notifications
from worker.app import app
from worker.base import OcelotTask

MAX_RETRIES = 5


@app.task(name=queues.NOTIFY_BUILD, bind=True)
def notify_build(self: OcelotTask, build_id: int) -> list[str]:
    """Fan out: one ``send`` per channel whose ``on`` list matches the build's events."""
    with session_scope(self.ctx.engine) as session:
        channels = notifications.due_channels(session, build_id)
    for channel in channels:
        queues.send_notify_channel(app, build_id, channel)
    return channels


@app.task(name=queues.NOTIFY_SEND, bind=True, max_retries=MAX_RETRIES)
def send(self: OcelotTask, build_id: int, channel: str) -> str:
    """Deliver one channel's notice; a transport error is retried while the policy allows
    (the last try records ``failed`` instead of ``retrying``)."""
    ctx = self.ctx
    try:
        result = notifications.deliver(
            ctx.engine, ctx.settings, build_id, channel, final=not self.may_retry()
        )
    except TransientNotifierError as exc:
        self.retry_later(exc)
    return result.outcome
